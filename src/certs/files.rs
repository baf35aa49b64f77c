//! Writing what `certs` makes, safely: every target is checked before the
//! first byte is written (nothing is overwritten without `--force`), key
//! material is created `0600` from the start, and each file appears whole
//! (written aside, then renamed into place).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::error::CertsError;

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Certificates, bundles, CRLs, configuration: `0644`.
    Public,
    /// Private keys and `.p12` files: `0600`, owner only.
    Secret,
}

impl Access {
    fn mode(self) -> u32 {
        match self {
            Access::Public => 0o644,
            Access::Secret => 0o600,
        }
    }
}

/// One file to write and what it is (for the listing printed afterwards).
#[derive(Debug)]
pub struct Output {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub access: Access,
    pub what: String,
}

/// The files one command writes, all or none.
#[derive(Debug, Default)]
pub struct Outputs {
    files: Vec<Output>,
}

impl Outputs {
    pub fn add(&mut self, path: PathBuf, contents: impl Into<Vec<u8>>, access: Access, what: &str) {
        self.files.push(Output {
            path,
            contents: contents.into(),
            access,
            what: what.to_string(),
        });
    }

    /// Fails, naming every file in the way, if any target exists and
    /// `force` is not set.
    ///
    /// # Errors
    /// [`CertsError::Exists`], naming the existing files.
    pub fn check(&self, force: bool) -> Result<(), CertsError> {
        refuse_existing(self.files.iter().map(|f| f.path.as_path()), force)
    }

    /// Writes every file (after [`Outputs::check`]) and prints the list.
    ///
    /// # Errors
    /// A file that cannot be written, named with the reason.
    pub fn write(self, force: bool) -> Result<(), CertsError> {
        self.check(force)?;
        let width = self
            .files
            .iter()
            .map(|f| f.path.display().to_string().len())
            .max()
            .unwrap_or(0);
        for file in &self.files {
            if let Some(parent) = file.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|source| CertsError::CreateDir {
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            write_atomic(&file.path, &file.contents, file.access)?;
        }
        println!("wrote:");
        for file in &self.files {
            let mode = match file.access {
                Access::Public => "",
                Access::Secret => " (0600)",
            };
            println!(
                "  {:width$}  {}{mode}",
                file.path.display().to_string(),
                file.what
            );
        }
        Ok(())
    }
}

/// Fails, naming every one of `paths` that exists, unless `force`.
///
/// # Errors
/// [`CertsError::Exists`], naming the existing files.
pub fn refuse_existing<'a>(
    paths: impl Iterator<Item = &'a Path>,
    force: bool,
) -> Result<(), CertsError> {
    if force {
        return Ok(());
    }
    let existing: Vec<PathBuf> = paths
        .filter(|p| p.symlink_metadata().is_ok())
        .map(Path::to_path_buf)
        .collect();
    if existing.is_empty() {
        Ok(())
    } else {
        Err(CertsError::Exists { paths: existing })
    }
}

/// Writes `contents` to a temporary file beside `path` with the final
/// permissions, then renames it over `path`, so readers (a gateway watching
/// the folder) never see half a file and a key is never world-readable.
///
/// # Errors
/// The file cannot be created, written or renamed; the message names it.
pub fn write_atomic(path: &Path, contents: &[u8], access: Access) -> Result<(), CertsError> {
    let name = path.file_name().ok_or_else(|| CertsError::NotAFileName {
        path: path.to_path_buf(),
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(access.mode())
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        CertsError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Reads a text file, naming it in the error.
///
/// # Errors
/// The file cannot be read.
pub fn read_text(path: &Path) -> Result<String, CertsError> {
    fs::read_to_string(path).map_err(|source| CertsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_0600_and_nothing_is_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        let cert = dir.path().join("c.pem");
        let mut out = Outputs::default();
        out.add(key.clone(), "secret", Access::Secret, "key");
        out.add(cert.clone(), "public", Access::Public, "cert");
        out.write(false).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&cert), 0o644);

        let mut again = Outputs::default();
        again.add(cert.clone(), "new", Access::Public, "cert");
        let err = again.write(false).unwrap_err();
        assert!(
            matches!(&err, CertsError::Exists { paths } if paths.as_slice() == [cert.as_path()]),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to overwrite {} (use --force to replace it)",
                cert.display()
            )
        );
        assert_eq!(fs::read_to_string(&cert).unwrap(), "public");

        let mut forced = Outputs::default();
        forced.add(cert.clone(), "new", Access::Public, "cert");
        forced.write(true).unwrap();
        assert_eq!(fs::read_to_string(&cert).unwrap(), "new");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary file left"
        );
    }
}
