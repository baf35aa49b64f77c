//! Where the `.p12` password comes from: a prompt on the terminal (asked
//! twice), `--password-file` or `--password-env`. Never a plain argument,
//! which every user of the machine could read in the process list.

use std::fmt;
use std::path::PathBuf;

use super::error::{CertsError, PasswordError};
use super::files;

/// Password options of `certs client`.
#[derive(Debug, clap::Args)]
pub struct PasswordArgs {
    /// Read the .p12 password from the first line of FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "password_env")]
    pub password_file: Option<PathBuf>,
    /// Read the .p12 password from the environment variable VAR.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
}

/// A password; its `Debug` does not print it.
pub struct Password(String);

impl Password {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

impl PasswordArgs {
    /// The password, from the file, the variable or the terminal.
    ///
    /// # Errors
    /// An unreadable file, an unset variable, no terminal to ask on, two
    /// different answers, or an empty password.
    pub fn read(&self) -> Result<Password, CertsError> {
        let password = if let Some(path) = &self.password_file {
            let text = files::read_text(path)?;
            let line = text.lines().next().unwrap_or("").to_string();
            check(line).map_err(|source| CertsError::PasswordFile {
                path: path.clone(),
                source,
            })?
        } else if let Some(var) = &self.password_env {
            let env_error = |source| CertsError::PasswordEnv {
                var: var.clone(),
                source,
            };
            let value = std::env::var(var).map_err(|e| env_error(PasswordError::Unset(e)))?;
            check(value).map_err(env_error)?
        } else {
            prompt()?
        };
        Ok(password)
    }
}

impl PasswordArgs {
    /// The password of an existing file: from the file, the variable, or
    /// asked once on the terminal.
    ///
    /// # Errors
    /// An unreadable file, an unset variable, no terminal to ask on.
    pub fn read_existing(&self) -> Result<Password, CertsError> {
        if self.password_file.is_some() || self.password_env.is_some() {
            return self.read();
        }
        let answer = rpassword::prompt_password("Password of the .p12 file: ")
            .map_err(PasswordError::NoTerminal)?;
        Ok(Password(answer))
    }
}

fn check(password: String) -> Result<Password, PasswordError> {
    if password.is_empty() {
        Err(PasswordError::Empty)
    } else {
        Ok(Password(password))
    }
}

fn prompt() -> Result<Password, PasswordError> {
    let first = rpassword::prompt_password("Password for the .p12 file: ")
        .map_err(PasswordError::NoTerminal)?;
    let second = rpassword::prompt_password("The same password again: ")
        .map_err(PasswordError::NoTerminal)?;
    if first != second {
        return Err(PasswordError::Differ);
    }
    check(first)
}
