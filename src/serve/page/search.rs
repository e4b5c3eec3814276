//! The page's search form, as it arrives in the query string, turned into
//! an index filter. Pure: no I/O, so the rules are unit-tested here.

use serde::Deserialize;

use crate::index::PartFilter;

/// Rows on a page unless "show more" asks for more.
pub(super) const PAGE_ROWS: usize = 50;
/// The most rows one page shows, however far "show more" is clicked.
pub(super) const MAX_ROWS: usize = 2000;

/// The query string of `GET /m/<account>`: the link's `sig` and `exp`, and
/// the search form's fields (empty fields are as good as absent).
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct PageQuery {
    pub sig: Option<String>,
    pub exp: Option<String>,
    /// Part of the file name, any case.
    pub name: Option<String>,
    /// Part of the sender's address.
    pub from: Option<String>,
    /// `YYYY-MM-DD`: mail of that day or later.
    pub since: Option<String>,
    /// `YYYY-MM-DD`: mail of that day or earlier.
    pub until: Option<String>,
    /// Files at least this large (`2MB`, `500KiB`, bytes).
    pub larger: Option<String>,
    /// How many rows to show.
    pub rows: Option<usize>,
}

/// A field's text when it says something.
pub(super) fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl PageQuery {
    /// How many rows this page shows.
    pub(super) fn rows(&self) -> usize {
        self.rows.unwrap_or(PAGE_ROWS).clamp(1, MAX_ROWS)
    }

    /// The index filter for `account`: one more row than shown, to learn
    /// whether there are more. `Err` says which field is wrong and how.
    pub(super) fn filter(&self, account: &str) -> Result<PartFilter, String> {
        let day = |field: &Option<String>, what: &str| -> Result<Option<i64>, String> {
            given(field)
                .map(|d| {
                    crate::dates::parse_day(d)
                        .map_err(|_| format!("{what}: write a date as YYYY-MM-DD, not {d:?}"))
                })
                .transpose()
        };
        let larger = given(&self.larger)
            .map(|s| {
                crate::units::parse_size(s)
                    .map_err(|_| format!("size: {s:?} is not a size; write e.g. 2MB or 500KiB"))
            })
            .transpose()?;
        Ok(PartFilter {
            account: Some(account.to_string()),
            name_glob: given(&self.name).map(contains_any_case),
            from: given(&self.from).map(str::to_string),
            since: day(&self.since, "from date")?,
            // The whole of that day.
            until: day(&self.until, "to date")?.map(|d| d + 86_400),
            larger,
            limit: Some(self.rows() + 1),
            ..PartFilter::default()
        })
    }
}

/// A GLOB matching names that contain `text` in any case: each ASCII
/// letter becomes `[xX]`, and `*`, `?` and `[` are taken literally.
pub(super) fn contains_any_case(text: &str) -> String {
    let mut g = String::from("*");
    for c in text.chars() {
        match c {
            c if c.is_ascii_alphabetic() => {
                g.push('[');
                g.push(c.to_ascii_lowercase());
                g.push(c.to_ascii_uppercase());
                g.push(']');
            }
            '*' | '?' | '[' => {
                g.push('[');
                g.push(c);
                g.push(']');
            }
            c => g.push(c),
        }
    }
    g.push('*');
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &str) -> PageQuery {
        let uri: axum::http::Uri = format!("/m/a?{pairs}").parse().expect("uri");
        axum::extract::Query::<PageQuery>::try_from_uri(&uri)
            .expect("query")
            .0
    }

    #[test]
    fn names_match_as_a_part_in_any_case_with_wildcards_taken_literally() {
        assert_eq!(contains_any_case("Q1"), "*[qQ]1*");
        assert_eq!(contains_any_case("a*b?[c"), "*[aA][*][bB][?][[][cC]*");
        assert_eq!(contains_any_case("été"), "*é[tT]é*");
    }

    #[test]
    fn the_form_becomes_a_filter_for_this_mailbox_only() {
        let f = q("name=plan&from=bob%40x&since=2024-03-01&until=2024-03-31&larger=1MB&sig=s")
            .filter("alice")
            .expect("filter");
        assert_eq!(f.account.as_deref(), Some("alice"));
        assert_eq!(f.name_glob.as_deref(), Some("*[pP][lL][aA][nN]*"));
        assert_eq!(f.from.as_deref(), Some("bob@x"));
        assert_eq!(f.since, Some(1_709_251_200));
        assert_eq!(f.until, Some(1_711_843_200 + 86_400));
        assert_eq!(f.larger, Some(1_000_000));
        assert_eq!(f.limit, Some(PAGE_ROWS + 1));
        assert!(!f.include_reattached);
    }

    #[test]
    fn empty_fields_say_nothing_and_rows_are_bounded() {
        let f = q("name=&from=+&since=&until=&larger=")
            .filter("a")
            .expect("filter");
        assert_eq!(
            (f.name_glob, f.from, f.since, f.until, f.larger),
            (None, None, None, None, None)
        );
        assert_eq!(q("rows=0").rows(), 1);
        assert_eq!(q("rows=100").rows(), 100);
        assert_eq!(q("rows=99999999").rows(), MAX_ROWS);
    }

    #[test]
    fn bad_fields_are_named() {
        let e = q("since=yesterday").filter("a").unwrap_err();
        assert!(e.contains("from date") && e.contains("YYYY-MM-DD"), "{e}");
        let e = q("larger=big").filter("a").unwrap_err();
        assert!(e.starts_with("size:"), "{e}");
    }
}
