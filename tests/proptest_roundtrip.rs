//! Property tests: generated messages (random part trees, base64 at many line
//! widths, quoted-printable, 7bit/8bit/binary, CRLF and LF, missing final
//! newline, trailing white space) always come back byte-exact from
//! detach → reattach, and detach never panics.

use proptest::prelude::*;
use slimbox::mime::{detach, reattach, Policy, Sha256};

#[derive(Debug, Clone)]
enum Enc {
    Base64 { width: usize, trailing_ws: bool },
    Qp,
    SevenBit,
    EightBit,
    Binary,
}

#[derive(Debug, Clone)]
enum Node {
    Leaf {
        content: Vec<u8>,
        enc: Enc,
        ctype: &'static str,
        name: Option<String>,
        attachment: bool,
    },
    Multi {
        subtype: &'static str,
        boundary: String,
        preamble: String,
        epilogue: String,
        children: Vec<Node>,
    },
}

fn enc() -> impl Strategy<Value = Enc> {
    prop_oneof![
        4 => (prop_oneof![Just(76usize), Just(72), Just(64), 1usize..120], any::<bool>())
            .prop_map(|(width, trailing_ws)| Enc::Base64 { width, trailing_ws }),
        1 => Just(Enc::Qp),
        1 => Just(Enc::SevenBit),
        1 => Just(Enc::EightBit),
        1 => Just(Enc::Binary),
    ]
}

fn leaf() -> impl Strategy<Value = Node> {
    (
        prop::collection::vec(any::<u8>(), 0..3000),
        enc(),
        prop::sample::select(vec![
            "application/pdf",
            "image/png",
            "text/plain",
            "application/octet-stream",
            "video/mp4",
        ]),
        prop::option::of("[a-zA-Z0-9 ._()-]{1,30}"),
        any::<bool>(),
    )
        .prop_map(|(content, enc, ctype, name, attachment)| {
            // 7bit/8bit/binary bodies are text-like: no line may look like a
            // boundary, so keep them to letters, spaces and line breaks.
            let content = match enc {
                Enc::SevenBit | Enc::EightBit | Enc::Binary => content
                    .iter()
                    .map(|b| match b % 28 {
                        26 => b' ',
                        27 => b'\n',
                        n => b'a' + n,
                    })
                    .collect(),
                _ => content,
            };
            Node::Leaf {
                content,
                enc,
                ctype,
                name,
                attachment,
            }
        })
}

fn tree() -> impl Strategy<Value = Node> {
    leaf().prop_recursive(3, 16, 4, |inner| {
        (
            prop::sample::select(vec!["mixed", "alternative", "related"]),
            "[a-zA-Z0-9]{1,20}",
            "[a-z ]{0,20}",
            "[a-z ]{0,20}",
            prop::collection::vec(inner, 1..4),
        )
            .prop_map(|(subtype, b, preamble, epilogue, children)| Node::Multi {
                subtype,
                boundary: b,
                preamble,
                epilogue,
                children,
            })
    })
}

fn qp(content: &[u8], eol: &str) -> String {
    let mut out = String::new();
    let mut col = 0;
    for &b in content {
        let piece = if (33..=126).contains(&b) && b != b'=' {
            (b as char).to_string()
        } else {
            format!("={b:02X}")
        };
        if col + piece.len() > 75 {
            out.push('=');
            out.push_str(eol);
            col = 0;
        }
        col += piece.len();
        out.push_str(&piece);
    }
    out
}

fn render(node: &Node, eol: &str, depth: usize, out: &mut Vec<u8>) {
    match node {
        Node::Leaf {
            content,
            enc,
            ctype,
            name,
            attachment,
        } => {
            let mut h = format!("Content-Type: {ctype}");
            if let Some(n) = name {
                h.push_str(&format!("; name=\"{n}\""));
            }
            h.push_str(eol);
            if *attachment {
                h.push_str(&format!("Content-Disposition: attachment{eol}"));
            }
            let cte = match enc {
                Enc::Base64 { .. } => "base64",
                Enc::Qp => "quoted-printable",
                Enc::SevenBit => "7bit",
                Enc::EightBit => "8bit",
                Enc::Binary => "binary",
            };
            h.push_str(&format!("Content-Transfer-Encoding: {cte}{eol}{eol}"));
            out.extend_from_slice(h.as_bytes());
            match enc {
                Enc::Base64 { width, trailing_ws } => {
                    let b = base64_simd::STANDARD.encode_to_string(content);
                    let lines: Vec<&str> = b
                        .as_bytes()
                        .chunks(*width)
                        .map(|c| std::str::from_utf8(c).unwrap())
                        .collect();
                    let sep = if *trailing_ws {
                        format!(" {eol}")
                    } else {
                        eol.to_string()
                    };
                    out.extend_from_slice(lines.join(&sep).as_bytes());
                }
                Enc::Qp => out.extend_from_slice(qp(content, eol).as_bytes()),
                _ => out.extend_from_slice(content),
            }
        }
        Node::Multi {
            subtype,
            boundary,
            preamble,
            epilogue,
            children,
        } => {
            let b = format!("B{depth}x{boundary}x");
            out.extend_from_slice(
                format!(
                    "Content-Type: multipart/{subtype}; boundary=\"{b}\"{eol}{eol}{preamble}{eol}"
                )
                .as_bytes(),
            );
            for c in children {
                out.extend_from_slice(format!("--{b}{eol}").as_bytes());
                render(c, eol, depth + 1, out);
                out.extend_from_slice(eol.as_bytes());
            }
            out.extend_from_slice(format!("--{b}--{eol}{epilogue}").as_bytes());
        }
    }
}

fn message(node: &Node, crlf: bool, final_newline: bool) -> Vec<u8> {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut out =
        format!("From: a@example.com{eol}Subject: test{eol}MIME-Version: 1.0{eol}").into_bytes();
    render(node, eol, 0, &mut out);
    if final_newline {
        out.extend_from_slice(eol.as_bytes());
    }
    out
}

fn check(raw: &[u8], min_size: u64) -> Result<bool, TestCaseError> {
    check_with(raw, min_size, true, false)
}

/// The round trip with the note on or off (issue 19) and, when `original`,
/// Thunderbird's entry style for `file:` links.
fn check_with(
    raw: &[u8],
    min_size: u64,
    note: bool,
    original: bool,
) -> Result<bool, TestCaseError> {
    let mut policy = Policy {
        min_size,
        now: 1_795_435_200,
        note,
        ..Policy::default()
    };
    if original {
        policy.entries = slimbox::mime::Entries::Original;
        policy.link_template = "file:///store/{sha256}".into();
    }
    let d = detach(raw, &policy);
    // The pipeline detaches without the engine's own proof first (it
    // proves from the store instead): same result whenever the engine's
    // proof holds.
    let unproven = slimbox::mime::detach_unproven(raw, &policy);
    prop_assert!(
        unproven.rewritten == d.rewritten,
        "detach_unproven differs from detach"
    );
    match &d.rewritten {
        Some(rw) => {
            let objects = |h: &Sha256| {
                d.objects
                    .iter()
                    .find(|o| &o.sha256 == h)
                    .map(|o| &o.data[..])
            };
            let back = reattach(rw, &objects).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(back == raw, "round trip differs");
            // The index rebuild reads back what detach reported, the note
            // or no note.
            let c = slimbox::mime::read_converted(rw)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(c.parts, d.parts.clone());
            Ok(true)
        }
        None => {
            prop_assert!(d.untouched_reason.is_some());
            Ok(false)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn generated_messages_round_trip(node in tree(), crlf in any::<bool>(), nl in any::<bool>(), min in 1u64..2000) {
        let raw = message(&node, crlf, nl);
        check(&raw, min)?;
    }

    /// issue 19: with the note on (the default) or off, and either entry
    /// style, the same messages are rewritten and each rebuilds exactly.
    #[test]
    fn issue19_generated_messages_round_trip_with_and_without_the_note(node in tree(), crlf in any::<bool>(), min in 1u64..2000, original in any::<bool>()) {
        let raw = message(&node, crlf, true);
        let on = check_with(&raw, min, true, original)?;
        let off = check_with(&raw, min, false, original)?;
        prop_assert_eq!(on, off, "the note changes what is rewritten");
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..2000)) {
        check(&raw, 1)?;
    }

    #[test]
    fn mangled_messages_never_panic(node in tree(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
        let mut raw = message(&node, true, true);
        let i = flip.index(raw.len());
        raw[i] ^= 0x20;
        raw.truncate(cut.index(raw.len() + 1));
        check(&raw, 1)?;
    }
}

#[test]
fn generated_trees_do_get_detached() {
    // Guard against a generator that never produces a candidate.
    let node = Node::Multi {
        subtype: "mixed",
        boundary: "x".into(),
        preamble: String::new(),
        epilogue: String::new(),
        children: vec![Node::Leaf {
            content: vec![1; 3000],
            enc: Enc::Base64 {
                width: 76,
                trailing_ws: false,
            },
            ctype: "application/pdf",
            name: Some("a.pdf".into()),
            attachment: true,
        }],
    };
    assert!(check(&message(&node, true, true), 1).unwrap());
}
