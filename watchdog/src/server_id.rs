//! Which X server the module is in, and whether this build may run there.
//!
//! The module reads the server's own structures (the client record, the request vector,
//! callback lists), laid out as the SDK it was built against declares them. Within one X.Org
//! series (1.20, 21.1) those layouts hold; across series they move, while the extension ABI
//! number the loader checks stayed 10.0 from 1.19 to 21.1. So a build runs only in a server of
//! the series it was built for, and refuses any other before it touches anything of it, with
//! one line saying what it found and what it was built for (decision 62).

use std::fmt;

/// An X.Org release in the server's own encoding (`XORG_VERSION_CURRENT`, and the release
/// number of the connection setup): `major·10⁷ + minor·10⁵ + patch·10³ + snapshot`, where
/// releases from 21.1 on count as 1.21.1.x (21.1.7 is 12101007).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    pub snapshot: u32,
}

impl Release {
    pub const fn from_number(n: u32) -> Self {
        let (major, minor, patch, snapshot) = (
            n / 10_000_000,
            n / 100_000 % 100,
            n / 1_000 % 100,
            n % 1_000,
        );
        if major == 1 && minor >= 21 {
            // 21.1.7 = "1.21.1.7": the old major is a constant 1 now.
            Self {
                major: minor,
                minor: patch,
                patch: snapshot,
                snapshot: 0,
            }
        } else {
            Self {
                major,
                minor,
                patch,
                snapshot,
            }
        }
    }

    /// A development snapshot or release candidate: X.Org numbers those of the next series
    /// as the last one's patch 99 (1.20.99.901 was a 21.1 candidate), so they belong to
    /// neither.
    pub const fn is_development(&self) -> bool {
        self.patch >= 99
    }

    /// The series: releases of one series share the structures the module reads.
    pub const fn series(&self) -> Series {
        Series {
            major: self.major,
            minor: self.minor,
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if self.snapshot != 0 {
            write!(f, ".{}", self.snapshot)?;
        }
        Ok(())
    }
}

/// An X.Org series: 1.20, 21.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Series {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// An ABI version as the loader packs it: major in the high 16 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Abi {
    pub major: u16,
    pub minor: u16,
}

impl Abi {
    pub const fn from_packed(v: u32) -> Self {
        Self {
            major: (v >> 16) as u16,
            minor: (v & 0xffff) as u16,
        }
    }
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What the module found out about the server it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The server's release, if it could be read.
    pub release: Option<Release>,
    /// The extension ABI, from Xorg's loader (servers without a loader have none).
    pub extension_abi: Option<Abi>,
}

/// What this build was built against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Built {
    pub release: Release,
    pub extension_abi: Abi,
}

/// Ok if this build may run in the server found; else the one line that says why not.
pub fn judge(found: &Found, built: &Built) -> Result<(), String> {
    let series = built.release.series();
    let built_for = format!(
        "this build of lifesign is for X.Org {series} (built against {}, extension ABI {})",
        built.release, built.extension_abi
    );
    let refuse = |what: String| {
        Err(format!(
            "{what}; {built_for}: lifesign is disabled and the server runs without LIFESIGN \
             (install the lifesign package built for this server's series)"
        ))
    };
    let Some(release) = found.release else {
        return refuse(
            "cannot tell which X.Org release this server is (it exports neither \
             xorgGetVersion nor a release number lifesign can read)"
                .to_owned(),
        );
    };
    let abi = found
        .extension_abi
        .map(|abi| format!(", extension ABI {abi}"))
        .unwrap_or_default();
    let this = format!("this server is X.Org {release}{abi}");
    if release.is_development() {
        return refuse(format!("{this}, a snapshot on the way to the next series"));
    }
    if release.series() != series {
        return refuse(this);
    }
    if let Some(abi) = found.extension_abi {
        // The loader's own rule: same major, and the server's minor at least the module's.
        if abi.major != built.extension_abi.major || abi.minor < built.extension_abi.minor {
            return refuse(this);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V21_1_7: u32 = 12_101_007;
    const V1_20_11: u32 = 12_011_000;

    fn built() -> Built {
        Built {
            release: Release::from_number(V21_1_7),
            extension_abi: Abi::from_packed(10 << 16),
        }
    }

    fn found(number: Option<u32>, abi: Option<u32>) -> Found {
        Found {
            release: number.map(Release::from_number),
            extension_abi: abi.map(Abi::from_packed),
        }
    }

    #[test]
    fn releases_decode_as_the_server_encodes_them() {
        assert_eq!(Release::from_number(V21_1_7).to_string(), "21.1.7");
        assert_eq!(Release::from_number(V1_20_11).to_string(), "1.20.11");
        assert_eq!(Release::from_number(12_101_016).to_string(), "21.1.16");
        assert_eq!(Release::from_number(12_099_901).to_string(), "1.20.99.901");
        assert_eq!(Release::from_number(V1_20_11).series().to_string(), "1.20");
        assert_eq!(Abi::from_packed(0x000a_0001).to_string(), "10.1");
    }

    #[test]
    fn any_release_of_the_series_is_accepted() {
        assert_eq!(
            judge(&found(Some(V21_1_7), Some(10 << 16)), &built()),
            Ok(())
        );
        assert_eq!(judge(&found(Some(12_101_016), None), &built()), Ok(()));
        assert_eq!(
            judge(&found(Some(12_101_001), Some(10 << 16 | 1)), &built()),
            Ok(())
        );
    }

    #[test]
    fn another_series_is_refused_naming_both() {
        let line = judge(&found(Some(V1_20_11), Some(10 << 16)), &built()).unwrap_err();
        assert!(
            line.starts_with("this server is X.Org 1.20.11, extension ABI 10.0;"),
            "{line}"
        );
        assert!(
            line.contains("for X.Org 21.1 (built against 21.1.7, extension ABI 10.0)"),
            "{line}"
        );
        assert!(line.contains("runs without LIFESIGN"), "{line}");
        // The next series, whatever its ABI number says.
        assert!(judge(&found(Some(12_102_000), Some(10 << 16)), &built()).is_err());
        assert!(judge(&found(Some(12_200_000), None), &built()).is_err());
    }

    #[test]
    fn another_extension_abi_is_refused_even_in_the_series() {
        assert!(judge(&found(Some(V21_1_7), Some(11 << 16)), &built()).is_err());
        let older_minor = Built {
            extension_abi: Abi::from_packed(10 << 16 | 2),
            ..built()
        };
        assert!(judge(&found(Some(V21_1_7), Some(10 << 16 | 1)), &older_minor).is_err());
    }

    #[test]
    fn a_snapshot_of_the_next_series_is_refused() {
        let built_120 = Built {
            release: Release::from_number(V1_20_11),
            ..built()
        };
        let line = judge(&found(Some(12_099_901), None), &built_120).unwrap_err();
        assert!(line.contains("X.Org 1.20.99.901, a snapshot"), "{line}");
        assert!(judge(&found(Some(12_101_099), None), &built()).is_err());
    }

    #[test]
    fn an_unknown_server_is_refused() {
        let line = judge(&found(None, None), &built()).unwrap_err();
        assert!(
            line.starts_with("cannot tell which X.Org release"),
            "{line}"
        );
    }
}
