//! The pages as HTML (maud: escaped by construction). One column that fits
//! a phone, plain forms, no script, one style sheet that the pages'
//! Content-Security-Policy allows by its hash ([`style_hash`]). Every name
//! from mail (file names, senders, subjects, accounts, folders) is shown
//! through [`shown`]: an invisible format character is written out, so a
//! right-to-left override cannot make `invoice<RLO>fdp.exe` read as
//! `invoiceexe.pdf`.

use maud::{html, Markup, DOCTYPE};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::search::{given, PageQuery, PAGE_ROWS};
use crate::index::PartRow;
use crate::mime::display::shown;
use crate::pipeline::ReattachOutcome;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:46rem;\
padding:.75rem;line-height:1.4;color:#222}h1{font-size:1.3rem}\
form.search{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.5rem;\
margin-bottom:1rem}form.search label{display:flex;flex-direction:column;font-size:.85rem}\
input,button{font:inherit;padding:.4rem}ul.files{list-style:none;padding:0}\
ul.files li{border:1px solid #ccc;border-radius:.4rem;padding:.6rem;margin:.5rem 0}\
.name{font-weight:600;word-break:break-all}.meta{color:#555;font-size:.9rem}\
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.4rem}\
.actions form{margin:0}.problem{color:#a00}a.button,button{border:1px solid #888;\
border-radius:.3rem;background:#f4f4f4;color:#000;text-decoration:none;padding:.4rem .7rem}";

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // Same as the Referrer-Policy header: the page link's
                // signature never goes to another site.
                meta name="referrer" content="same-origin";
                title { (title) }
                style { (STYLE) }
            }
            body { (body) }
        }
    }
}

/// `/m/<account>` with the link's `sig` and `exp`, and `extra` pairs.
pub(super) fn page_href(account: &str, sig: Option<&str>, exp: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(s) = sig {
        q.append_pair("sig", s);
    }
    if let Some(e) = exp {
        q.append_pair("exp", e);
    }
    let q = q.finish();
    let path = format!("/m/{}", utf8_percent_encode(account, NON_ALPHANUMERIC));
    if q.is_empty() {
        path
    } else {
        format!("{path}?{q}")
    }
}

/// The "put back" form's action: `/m/<account>/put-back` with the page
/// link's `sig` and `exp`, so the server checks them before it reads the
/// form (issue 20).
pub(super) fn put_back_href(account: &str, sig: Option<&str>, exp: Option<&str>) -> String {
    let href = page_href(account, sig, exp);
    match href.split_once('?') {
        Some((path, q)) => format!("{path}/put-back?{q}"),
        None => format!("{href}/put-back"),
    }
}

/// The mailboxes, where access is open (loopback).
pub(super) fn home(accounts: &[String]) -> Markup {
    layout(
        "slimbox: mailboxes",
        html! {
            h1 { "Mailboxes" }
            ul { @for a in accounts { li { a href=(page_href(a, None, None)) { (shown(a)) } } } }
        },
    )
}

/// What one page shows.
pub(super) struct PageView<'a> {
    pub account: &'a str,
    pub query: &'a PageQuery,
    /// As found: one more than shown when there are more.
    pub rows: &'a [PartRow],
    pub problem: Option<&'a str>,
    pub token: String,
    pub link: &'a dyn Fn(&PartRow) -> String,
}

pub(super) fn page(v: &PageView) -> Markup {
    let rows_shown = v.query.rows();
    let q = v.query;
    let field = |f: &Option<String>| given(f).unwrap_or("").to_string();
    layout(
        &format!("Files of {}", shown(v.account)),
        html! {
            h1 { "Files moved out of " (shown(v.account)) }
            form.search method="get" action=(page_href(v.account, None, None)) {
                @if let Some(s) = given(&q.sig) { input type="hidden" name="sig" value=(s); }
                @if let Some(e) = given(&q.exp) { input type="hidden" name="exp" value=(e); }
                label { "File name" input type="search" name="name" value=(field(&q.name)); }
                label { "Sender" input type="search" name="from" value=(field(&q.from)); }
                label { "From date" input type="date" name="since" value=(field(&q.since)); }
                label { "To date" input type="date" name="until" value=(field(&q.until)); }
                label { "At least (e.g. 2MB)" input type="text" name="larger" value=(field(&q.larger)); }
                button type="submit" { "Search" }
            }
            @if let Some(p) = v.problem { p.problem { (p) } }
            @if v.rows.is_empty() && v.problem.is_none() { p { "No files found." } }
            ul.files { @for row in v.rows.iter().take(rows_shown) { (file_row(v, row)) } }
            @if v.rows.len() > rows_shown { p { a.button href=(more_href(v)) { "Show more" } } }
        },
    )
}

fn file_row(v: &PageView, row: &PartRow) -> Markup {
    let date = row.date.map(crate::dates::format_day).unwrap_or_default();
    let q = v.query;
    html! {
        li {
            div.name { (shown(&row.filename)) }
            div.meta {
                (crate::units::human_size(row.size)) " · " (date)
                @if let Some(f) = &row.from { " · " (shown(f)) }
            }
            @if let Some(s) = &row.subject { div.meta { "Subject: " (shown(s)) } }
            div.actions {
                a.button href=((v.link)(row)) download=(crate::mime::safe_name(&row.filename)) { "Download" }
                form method="post" action=(put_back_href(v.account, given(&q.sig), given(&q.exp))) {
                    input type="hidden" name="token" value=(v.token);
                    input type="hidden" name="message" value=(row.message);
                    input type="hidden" name="sha256" value=(row.sha256);
                    button type="submit" { "Put the original message back in my mailbox" }
                }
            }
        }
    }
}

/// This search again with more rows.
fn more_href(v: &PageView) -> String {
    let q = v.query;
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    let fields = [
        ("sig", &q.sig),
        ("exp", &q.exp),
        ("name", &q.name),
        ("from", &q.from),
        ("since", &q.since),
        ("until", &q.until),
        ("larger", &q.larger),
    ];
    for (k, f) in fields {
        if let Some(val) = given(f) {
            s.append_pair(k, val);
        }
    }
    s.append_pair("rows", &(q.rows() + PAGE_ROWS).to_string());
    format!("{}?{}", page_href(v.account, None, None), s.finish())
}

/// What the result of a "put back" shows.
pub(super) struct PutBackView<'a> {
    pub account: &'a str,
    pub outcome: &'a ReattachOutcome,
    /// Set when it failed: the id its log line carries.
    pub error_id: Option<&'a str>,
    /// The page to go back to.
    pub back: &'a str,
}

/// The result of a "put back": what was done, or an error id to quote
/// (the error itself is in the server's log, never on the page).
pub(super) fn put_back(v: &PutBackView) -> Markup {
    let o = v.outcome;
    let what = shown(o.target.message_id.as_deref().unwrap_or("the message"));
    let (account, folder) = (shown(v.account), shown(&o.target.folder));
    layout(
        "Put back",
        html! {
            h1 { "Put back" }
            @match (v.error_id, o.uid) {
                (None, Some(_)) => p.done { "Put back: " (what) " is whole again in " (account) ", folder " (folder) "." },
                (Some(id), _) => {
                    p.problem { "Not put back: something went wrong on the server (error id " (id) ")." }
                    p { "Nothing was lost: the message is as it was. Try again later; if it keeps failing, send this error id to whoever runs slimbox for you." }
                }
                (None, None) => p.problem { "Not put back." },
            }
            @if let Some(n) = &o.note { p { (shown(n)) } }
            p { a.button href=(v.back) { "Back to the files" } }
        },
    )
}

/// The server failed (its index unreadable, say): what to do, and the id
/// of the log line that says what happened.
pub(super) fn trouble(id: &str) -> Markup {
    layout(
        "slimbox: not available",
        html! {
            h1 { "Your files cannot be shown right now" }
            p { "Something went wrong on the server (error id " (id) "). Nothing was changed. Try again in a few minutes; if it keeps failing, send this error id to whoever runs slimbox for you." }
        },
    )
}

/// A mailbox's page asked for without its signed link (401).
pub(super) fn link_needed() -> Markup {
    layout(
        "slimbox: link needed",
        html! {
            h1 { "This page needs its link" }
            p { "Each mailbox's page opens only with the signed link made for it, so that nobody else can see its files." }
            p { "On the computer where slimbox runs, this opens your page in the browser:" }
            pre { "slimbox page ACCOUNT" }
            p { "(or " code { "slimbox page ACCOUNT --print" } " to print the link). Otherwise ask whoever runs slimbox for you for your page link (" code { "slimbox link --page ACCOUNT" } ")." }
        },
    )
}

/// The CSP source that allows the pages' one style sheet:
/// `'sha256-…'` of its exact text.
pub(crate) fn style_hash() -> String {
    let digest = crate::store::sha256(STYLE.as_bytes());
    format!(
        "'sha256-{}'",
        base64_simd::STANDARD.encode_to_string(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_style_sheet_is_written_exactly_as_hashed() {
        // maud escapes text: the hash only holds if escaping changes nothing.
        let page = link_needed().into_string();
        assert!(page.contains(&format!("<style>{STYLE}</style>")), "{page}");
        assert!(style_hash().starts_with("'sha256-") && style_hash().ends_with("='"));
    }
}
