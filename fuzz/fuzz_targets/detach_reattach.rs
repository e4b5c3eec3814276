//! detach -> reattach round trip on arbitrary bytes.
//!
//! 1. `detach` must never panic. When it rewrites the message, `reattach`
//!    over the rewritten bytes, given exactly the objects detach returned,
//!    must give back the input byte for byte.
//! 2. `reattach` on the raw input (which may or may not look like a
//!    slimbox-processed message) must never panic; errors are fine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slimbox::mime::{detach, reattach, Policy, Sha256};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the threshold, but the whole input is the message,
    // so seed .eml files are used unchanged.
    let min_size = match data.first() {
        Some(b) if b & 1 == 1 => 64,
        _ => 1,
    };
    let policy = Policy {
        min_size,
        now: 1_700_000_000,
        ..Policy::default()
    };

    let d = detach(data, &policy);
    if let Some(rewritten) = &d.rewritten {
        assert!(
            d.untouched_reason.is_none(),
            "rewritten but also untouched: {:?}",
            d.untouched_reason
        );
        let objects = &d.objects;
        let lookup = |h: &Sha256| -> Option<&[u8]> {
            objects.iter().find(|o| &o.sha256 == h).map(|o| &o.data[..])
        };
        match reattach(rewritten, &lookup) {
            Ok(back) => {
                if back != data {
                    let at = back
                        .iter()
                        .zip(data)
                        .position(|(a, b)| a != b)
                        .unwrap_or(back.len().min(data.len()));
                    panic!(
                        "round trip differs: input {} bytes, reattached {} bytes, first difference at {}",
                        data.len(),
                        back.len(),
                        at
                    );
                }
            }
            Err(e) => panic!("reattach of detach's own output failed: {e}"),
        }
    } else {
        assert!(d.objects.is_empty(), "untouched but objects returned");
    }

    // Reattach on arbitrary input: errors are fine, panics are not.
    let _ = reattach(data, &|_| None);
});
