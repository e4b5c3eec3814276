//! `[store] compress` and `compress_level`: whether new objects are stored
//! zstd-compressed, and at which level.

use super::super::raw::RawStore;
use super::Ctx;
use crate::config::ConfigError;

/// `store.compress` and `store.compress_level`: the zstd level, or `None`.
pub(super) fn compress_level(ctx: &Ctx, raw: &RawStore) -> Result<Option<i32>, ConfigError> {
    let levels = crate::store::COMPRESS_LEVELS;
    let on = match raw.compress.as_deref().map(str::trim) {
        None | Some("none") => false,
        Some("zstd") => true,
        Some(other) => {
            return Err(ctx.err(
                "store.compress",
                format!("{other:?} is not a compression slimbox knows; write \"zstd\" or \"none\""),
            ))
        }
    };
    let level = match raw.compress_level {
        None => crate::store::DEFAULT_COMPRESS_LEVEL,
        Some(l) => match i32::try_from(l) {
            Ok(l) if levels.contains(&l) => l,
            _ => {
                return Err(ctx.err(
                    "store.compress_level",
                    format!(
                        "{l} is out of range; write a zstd level from {} (fastest) to {} \
                         (smallest), or leave it out for {}",
                        levels.start(),
                        levels.end(),
                        crate::store::DEFAULT_COMPRESS_LEVEL
                    ),
                ))
            }
        },
    };
    if !on && raw.compress_level.is_some() {
        return Err(ctx.err(
            "store.compress_level",
            "is set but compression is off; add compress = \"zstd\", or remove the key",
        ));
    }
    Ok(on.then_some(level))
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn issue11_compress_keys() {
        let c = ok(&with_store(ACCOUNT));
        assert_eq!(c.store.compress_zstd_level, None, "off by default");
        let on = |extra: &str| format!("[store]\nurl = \"/srv/store\"\n{extra}\n{ACCOUNT}");
        assert_eq!(
            ok(&on("compress = \"zstd\"")).store.compress_zstd_level,
            Some(3)
        );
        assert_eq!(
            ok(&on("compress = \"zstd\"\ncompress_level = 19"))
                .store
                .compress_zstd_level,
            Some(19)
        );
        assert_eq!(
            ok(&on("compress = \"none\"")).store.compress_zstd_level,
            None
        );
        for (extra, key, says) in [
            ("compress = \"gzip\"", "store.compress", "\"zstd\""),
            (
                "compress = \"zstd\"\ncompress_level = 0",
                "store.compress_level",
                "1 (fastest) to 19",
            ),
            (
                "compress = \"zstd\"\ncompress_level = 22",
                "store.compress_level",
                "out of range",
            ),
            (
                "compress = \"zstd\"\ncompress_level = 99999999999",
                "store.compress_level",
                "out of range",
            ),
            (
                "compress_level = 5",
                "store.compress_level",
                "compress = \"zstd\"",
            ),
        ] {
            let msg = err(&on(extra));
            assert!(msg.contains(key) && msg.contains(says), "{extra}: {msg}");
        }
    }
}
