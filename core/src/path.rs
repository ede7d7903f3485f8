//! Virtual paths: what a peer may name, and how it maps into a served root.
//!
//! TFTP file names, FTP path arguments and manifest entries all name files
//! inside a served root. Before any of them reaches a [`Storage`], it passes
//! through [`resolve`], which produces a *normalised relative path*: components
//! separated by single `/`, no leading or trailing `/`, no `.` or `..`
//! components, no empty components, and no control characters. The empty
//! string is the root itself.
//!
//! A leading `/` means "from the root", never "from the host's file system":
//! `/etc/passwd` names `etc/passwd` inside the root. `..` is either refused
//! outright ([`DotDot::Reject`], TFTP's and the manifest's rule) or resolved
//! lexically with the root as a floor, the way a `chroot` treats `/..`
//! ([`DotDot::Clamp`], FTP's rule for `CWD ..`). Either way no path leaves
//! the root. Symbolic links are the store's business: a file-system store must
//! still refuse a link that leads outside its root.
//!
//! [`Storage`]: crate::storage::Storage

use core::fmt;

/// Longest normalised path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 512;

/// A normalised relative path (see the module docs).
pub type PathBuf = heapless::String<MAX_PATH_LEN>;

/// How [`resolve`] treats `..` components.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DotDot {
    /// Any `..` component is an error.
    Reject,
    /// `..` removes the previous component; at the root it stays at the root.
    Clamp,
}

/// Why a path was refused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is longer than [`MAX_PATH_LEN`] once normalised.
    #[error("path too long")]
    TooLong,
    /// The path contains NUL, another control character or DEL.
    #[error("path contains a control character")]
    ControlCharacter,
    /// The path contains `..` where that is not allowed.
    #[error("path contains a '..' component")]
    ParentComponent,
}

/// Resolves `input` against the normalised directory `base`.
///
/// `base` must itself be normalised (as returned by this function); `input`
/// is what the peer sent. A leading `/` in `input` starts from the root.
///
/// ```
/// use netboot_core::path::{resolve, DotDot, PathError};
///
/// assert_eq!(resolve("", "/boot//pxelinux.0", DotDot::Reject).unwrap(), "boot/pxelinux.0");
/// assert_eq!(resolve("pub/isos", "../readme.txt", DotDot::Clamp).unwrap(), "pub/readme.txt");
/// // A chroot never lets you climb above its root.
/// assert_eq!(resolve("pub", "../../../etc/passwd", DotDot::Clamp).unwrap(), "etc/passwd");
/// assert_eq!(resolve("", "../etc/passwd", DotDot::Reject), Err(PathError::ParentComponent));
/// assert_eq!(resolve("", "a\nb", DotDot::Reject), Err(PathError::ControlCharacter));
/// ```
pub fn resolve(base: &str, input: &str, dotdot: DotDot) -> Result<PathBuf, PathError> {
    if input.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    let mut out = PathBuf::new();
    if !input.starts_with('/') {
        push_components(&mut out, base, dotdot)?;
    }
    push_components(&mut out, input, dotdot)?;
    Ok(out)
}

fn push_components(out: &mut PathBuf, path: &str, dotdot: DotDot) -> Result<(), PathError> {
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => match dotdot {
                DotDot::Reject => return Err(PathError::ParentComponent),
                DotDot::Clamp => {
                    let keep = out.rfind('/').unwrap_or(0);
                    out.truncate(keep);
                }
            },
            name => {
                if !out.is_empty() {
                    out.push('/').map_err(|_| PathError::TooLong)?;
                }
                out.push_str(name).map_err(|_| PathError::TooLong)?;
            }
        }
    }
    Ok(())
}

/// The last component of a normalised path (the whole path if it has one).
///
/// ```
/// assert_eq!(netboot_core::path::file_name("boot/stage1.bin"), "stage1.bin");
/// assert_eq!(netboot_core::path::file_name(""), "");
/// ```
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The directory part of a normalised path (`""` for the root).
///
/// ```
/// assert_eq!(netboot_core::path::parent("boot/x86/stage1.bin"), "boot/x86");
/// assert_eq!(netboot_core::path::parent("stage1.bin"), "");
/// ```
pub fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// Displays a normalised path as the absolute virtual path a peer sees
/// (`""` as `/`, `a/b` as `/a/b`).
///
/// ```
/// use netboot_core::path::Absolute;
/// assert_eq!(format!("{}", Absolute("pub/x")), "/pub/x");
/// assert_eq!(format!("{}", Absolute("")), "/");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Absolute<'a>(pub &'a str);

impl fmt::Display for Absolute<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("/")?;
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises() {
        assert_eq!(resolve("", "", DotDot::Reject).unwrap(), "");
        assert_eq!(resolve("", "/", DotDot::Reject).unwrap(), "");
        assert_eq!(resolve("a", "", DotDot::Reject).unwrap(), "a");
        assert_eq!(resolve("a", "/", DotDot::Reject).unwrap(), "");
        assert_eq!(resolve("a", "./b/./c/", DotDot::Reject).unwrap(), "a/b/c");
        assert_eq!(resolve("a/b", "..", DotDot::Clamp).unwrap(), "a");
        assert_eq!(resolve("", "..", DotDot::Clamp).unwrap(), "");
        assert_eq!(resolve("a", "b/../../..", DotDot::Clamp).unwrap(), "");
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(
            resolve("", "a\0b", DotDot::Clamp),
            Err(PathError::ControlCharacter)
        );
        assert_eq!(
            resolve("", "a\x7fb", DotDot::Clamp),
            Err(PathError::ControlCharacter)
        );
        assert_eq!(
            resolve("", "x/../y", DotDot::Reject),
            Err(PathError::ParentComponent)
        );
        let long = "a/".repeat(MAX_PATH_LEN);
        assert_eq!(resolve("", &long, DotDot::Reject), Err(PathError::TooLong));
    }

    #[test]
    fn dots_inside_names_are_names() {
        assert_eq!(resolve("", "...", DotDot::Reject).unwrap(), "...");
        assert_eq!(resolve("", "a..b/.c", DotDot::Reject).unwrap(), "a..b/.c");
    }

    proptest! {
        #[test]
        fn output_is_always_normalised(base in "[a-z./]{0,20}", input in "[a-z./]{0,40}") {
            let base = resolve("", &base, DotDot::Clamp).unwrap();
            if let Ok(p) = resolve(&base, &input, DotDot::Clamp) {
                prop_assert!(!p.starts_with('/'));
                prop_assert!(!p.ends_with('/'));
                prop_assert!(!p.contains("//"));
                prop_assert!(p.split('/').all(|c| c != ".." && c != "."));
                // Resolving a normalised path again is the identity.
                prop_assert_eq!(resolve("", &p, DotDot::Reject).unwrap(), p.clone());
            }
        }
    }
}
