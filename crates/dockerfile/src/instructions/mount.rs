//! `RUN --mount=type=bind|cache|tmpfs|secret,...`, as buildkit parses it.
//!
//! The value is one CSV record (Go's `encoding/csv`: fields may be quoted, `""`
//! is a quote). Values may use variables, expanded with the stage's variables
//! when the step runs ([`MountSpec::resolve`]); `from=` may not. At parse time
//! every field without a variable is checked already, so mistakes surface with
//! the Dockerfile's line before anything runs.
//!
//! `type=ssh` is refused: berth has no SSH agent forwarding.

use crate::lexer::LexError;

/// The kinds of mounts berth supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// A directory of the build context or of another stage/image (read-only by
    /// default).
    Bind,
    /// A persistent cache directory shared between builds.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A build secret as a file (or environment variable).
    Secret,
}

impl MountType {
    fn name(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
        }
    }
}

/// Sharing mode of a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Concurrent builds use it together (default).
    Shared,
    /// Each concurrent build gets its own copy.
    Private,
    /// Concurrent builds wait for each other.
    Locked,
}

/// A parsed `--mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `type=` (default bind).
    pub kind: MountType,
    /// `from=`: stage or image to take the source from.
    pub from: Option<String>,
    /// `source=`/`src=`.
    pub source: Option<String>,
    /// `target=`/`dst=`/`destination=`.
    pub target: Option<String>,
    /// `ro`/`rw` (default: read-only except cache and tmpfs).
    pub read_only: bool,
    /// `id=` (cache id, secret id).
    pub id: Option<String>,
    /// `sharing=` (cache only).
    pub sharing: Option<Sharing>,
    /// `mode=` octal (cache, secret).
    pub mode: Option<u32>,
    /// `uid=` (cache, secret).
    pub uid: Option<u32>,
    /// `gid=` (cache, secret).
    pub gid: Option<u32>,
    /// `required` (secret): fail when the secret is missing.
    pub required: bool,
    /// `size=` in bytes (tmpfs).
    pub size: Option<u64>,
    /// `env=` (secret): expose the secret as this environment variable.
    pub env: Option<String>,
}

/// A `--mount` as written, resolved when its variables are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// The flag value.
    pub raw: String,
}

impl MountSpec {
    /// Parses the mount, expanding every value with `expand`.
    pub fn resolve(
        &self,
        expand: &mut dyn FnMut(&str) -> Result<String, LexError>,
    ) -> Result<Mount, MountError> {
        parse_mount(&self.raw, Some(expand))
    }

    /// Checks everything that does not depend on variables.
    pub(crate) fn validate(&self) -> Result<(), MountError> {
        parse_mount(&self.raw, None).map(|_| ())
    }
}

/// A `--mount` that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    /// Not one CSV record.
    #[error("failed to parse csv mounts: {0}")]
    Csv(&'static str),
    /// A field without `=` other than ro/rw/required.
    #[error("invalid field '{0}' must be a key=value pair")]
    NotKeyValue(String),
    /// A key no mount type has.
    #[error("unexpected key '{key}' in '{field}' (keys: type, from, source, target, readonly, id, sharing, required, mode, uid, gid, size, env)")]
    UnknownKey {
        /// The key.
        key: String,
        /// The whole field.
        field: String,
    },
    /// A key this mount type does not have.
    #[error("unexpected key '{key}' for mount type '{kind}'")]
    KeyForType {
        /// The key.
        key: String,
        /// The mount type.
        kind: &'static str,
    },
    /// A value that does not parse.
    #[error("invalid value for {key}: {value}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// An unknown `type=`.
    #[error("unsupported mount type {0:?} (use bind, cache, tmpfs or secret)")]
    UnsupportedType(String),
    /// `type=ssh`.
    #[error("mount type ssh is not supported by berth (there is no SSH agent forwarding; use a secret mount)")]
    Ssh,
    /// An unknown `sharing=`.
    #[error("unsupported sharing value {0:?} (use shared, private or locked)")]
    UnsupportedSharing(String),
    /// `from=$VAR`.
    #[error("'from' doesn't support variable expansion, define alias stage instead")]
    FromVariable,
    /// mode/uid/gid on a bind or tmpfs mount.
    #[error("{what} not allowed for \"{kind}\" type mounts")]
    NotAllowed {
        /// mode, uid or gid.
        what: &'static str,
        /// The mount type.
        kind: &'static str,
    },
    /// A secret mount breaking the secret rules.
    #[error("invalid secret mount: {0}")]
    Secret(&'static str),
    /// `sharing=` on something else than a cache.
    #[error("invalid cache sharing set for {0} mount")]
    SharingNotCache(&'static str),
    /// A value whose variables could not be expanded.
    #[error(transparent)]
    Expand(#[from] LexError),
}

/// Expands a value; `None` means "parse time": values with variables are kept.
type Expander<'a> = Option<&'a mut dyn FnMut(&str) -> Result<String, LexError>>;

fn parse_mount(raw: &str, mut expand: Expander<'_>) -> Result<Mount, MountError> {
    let mut m = Mount {
        kind: MountType::Bind,
        from: None,
        source: None,
        target: None,
        read_only: false,
        id: None,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        size: None,
        env: None,
    };
    let mut ro_auto = true;
    // At parse time a `type=$T` leaves the type open: skip the type checks.
    let mut type_known = true;
    for field in csv_record(raw)? {
        let (key, value) = field.split_once('=').unwrap_or((&field, ""));
        let key = key.to_ascii_lowercase();
        if !type_known && TYPE_DEPENDENT.contains(&key.as_str()) {
            continue;
        }
        if !field.contains('=') {
            flag_field(&mut m, &field, &mut ro_auto)?;
            continue;
        }
        let value = match expand.as_mut() {
            Some(f) => f(value)?,
            None if key == "from" && has_variable(value) => return Err(MountError::FromVariable),
            None if value.contains('$') => {
                known_key(&key, &field)?;
                type_known &= key != "type";
                continue;
            }
            None => value.to_string(),
        };
        set_field(&mut m, &key, value, &field, &mut ro_auto)?;
    }
    if type_known {
        validate(&mut m, ro_auto)?;
    }
    Ok(m)
}

/// `ro`, `rw`, `required` without a value.
fn flag_field(m: &mut Mount, field: &str, ro_auto: &mut bool) -> Result<(), MountError> {
    match field.to_ascii_lowercase().as_str() {
        "readonly" | "ro" => m.read_only = true,
        "readwrite" | "rw" => m.read_only = false,
        "required" if m.kind == MountType::Secret => {
            m.required = true;
            return Ok(());
        }
        "required" => {
            return Err(MountError::KeyForType {
                key: "required".into(),
                kind: m.kind.name(),
            })
        }
        _ => return Err(MountError::NotKeyValue(field.to_string())),
    }
    *ro_auto = false;
    Ok(())
}

/// Keys whose validity depends on the mount type.
const TYPE_DEPENDENT: &[&str] = &["required", "size", "env"];

const KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "src",
    "target",
    "dst",
    "destination",
    "readonly",
    "ro",
    "readwrite",
    "rw",
    "required",
    "size",
    "id",
    "sharing",
    "mode",
    "uid",
    "gid",
    "env",
];

fn known_key(key: &str, field: &str) -> Result<(), MountError> {
    if KEYS.contains(&key) {
        return Ok(());
    }
    Err(MountError::UnknownKey {
        key: key.to_string(),
        field: field.to_string(),
    })
}

/// Go's `regexp.MatchString("\$.", v)`.
fn has_variable(value: &str) -> bool {
    value
        .split('$')
        .skip(1)
        .any(|after| after.chars().next().is_some_and(|c| c != '\n'))
}

fn set_field(
    m: &mut Mount,
    key: &str,
    value: String,
    field: &str,
    ro_auto: &mut bool,
) -> Result<(), MountError> {
    let invalid = |value: &str| MountError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
    };
    let for_type = |kind: MountType| MountError::KeyForType {
        key: key.to_string(),
        kind: kind.name(),
    };
    match key {
        "type" => m.kind = mount_type(&value)?,
        "from" => m.from = Some(value),
        "source" | "src" => m.source = Some(value),
        "target" | "dst" | "destination" => m.target = Some(value),
        "readonly" | "ro" | "readwrite" | "rw" => {
            let b = go_parse_bool(&value).ok_or_else(|| invalid(&value))?;
            m.read_only = if matches!(key, "readwrite" | "rw") {
                !b
            } else {
                b
            };
            *ro_auto = false;
        }
        "required" if m.kind == MountType::Secret => {
            m.required = go_parse_bool(&value).ok_or_else(|| invalid(&value))?
        }
        "required" => return Err(for_type(m.kind)),
        "size" if m.kind == MountType::Tmpfs => {
            m.size = Some(ram_in_bytes(&value).ok_or_else(|| invalid(&value))?)
        }
        "size" => return Err(for_type(m.kind)),
        "env" if m.kind == MountType::Secret => m.env = Some(value),
        "env" => return Err(for_type(m.kind)),
        "id" => m.id = Some(value),
        "sharing" => m.sharing = Some(sharing(&value)?),
        "mode" => m.mode = Some(u32::from_str_radix(&value, 8).map_err(|_| invalid(&value))?),
        "uid" => m.uid = Some(value.parse().map_err(|_| invalid(&value))?),
        "gid" => m.gid = Some(value.parse().map_err(|_| invalid(&value))?),
        _ => {
            return Err(MountError::UnknownKey {
                key: key.to_string(),
                field: field.to_string(),
            })
        }
    }
    Ok(())
}

fn mount_type(value: &str) -> Result<MountType, MountError> {
    match value.to_ascii_lowercase().as_str() {
        "bind" => Ok(MountType::Bind),
        "cache" => Ok(MountType::Cache),
        "tmpfs" => Ok(MountType::Tmpfs),
        "secret" => Ok(MountType::Secret),
        "ssh" => Err(MountError::Ssh),
        _ => Err(MountError::UnsupportedType(value.to_string())),
    }
}

fn sharing(value: &str) -> Result<Sharing, MountError> {
    match value.to_ascii_lowercase().as_str() {
        "shared" => Ok(Sharing::Shared),
        "private" => Ok(Sharing::Private),
        "locked" => Ok(Sharing::Locked),
        _ => Err(MountError::UnsupportedSharing(value.to_string())),
    }
}

/// buildkit's `validateMount`.
fn validate(m: &mut Mount, ro_auto: bool) -> Result<(), MountError> {
    let kind = m.kind.name();
    if matches!(m.kind, MountType::Bind | MountType::Tmpfs) {
        for (what, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(MountError::NotAllowed { what, kind });
            }
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if m.from.is_some() {
            return Err(MountError::Secret("a secret mount has no from="));
        }
        if m.sharing.is_some() {
            return Err(MountError::Secret("a secret mount has no sharing="));
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() && m.env.is_none() {
            return Err(MountError::Secret(
                "give one of id=, source=, target= or env=",
            ));
        }
        if m.source.is_some() && m.id.is_some() {
            return Err(MountError::Secret("both source and id can't be set"));
        }
    }
    if m.sharing.is_some() && m.kind != MountType::Cache {
        return Err(MountError::SharingNotCache(kind));
    }
    Ok(())
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// go-units `RAMInBytes`: `64m`, `1.5GiB`, `1024` (binary multiples), the
/// syntax docker users write for sizes; hand-written to accept exactly that.
fn ram_in_bytes(s: &str) -> Option<u64> {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, rest) = s.split_at(num_end);
    if !num.starts_with(|c: char| c.is_ascii_digit()) || num.ends_with('.') || num.contains("..") {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let shift = match chars.peek().map(|c| c.to_ascii_lowercase()) {
        Some(u @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            chars.next();
            10 * (1 + "kmgtp".find(u).unwrap_or(0) as i32)
        }
        _ => 0,
    };
    if matches!(chars.peek(), Some('i' | 'I')) {
        chars.next();
    }
    if matches!(chars.peek(), Some('b' | 'B')) {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    Some((value * 2f64.powi(shift)) as u64)
}

/// One record of Go's `encoding/csv` (comma-separated, `"` quoting, `""` for a
/// quote, a bare `"` in an unquoted field is an error). Hand-written: docker's
/// exact rules for one short record are a few lines, and the csv crate's
/// defaults (lenient quotes, trimming options) differ.
fn csv_record(s: &str) -> Result<Vec<String>, MountError> {
    // A flag comes from one logical line, so there is no newline to end the
    // record early.
    if s.is_empty() {
        return Err(MountError::Csv("EOF (the mount is empty)"));
    }
    let mut fields = Vec::new();
    let mut rest = s;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (field, after) = quoted_field(quoted)?;
            fields.push(field);
            match after.strip_prefix(',') {
                Some(a) => rest = a,
                None if after.is_empty() => break,
                None => return Err(MountError::Csv("extraneous or missing \" in quoted-field")),
            }
        } else {
            let (field, after) = rest
                .split_once(',')
                .map_or((rest, None), |(f, a)| (f, Some(a)));
            if field.contains('"') {
                return Err(MountError::Csv("bare \" in non-quoted-field"));
            }
            fields.push(field.to_string());
            match after {
                Some(a) => rest = a,
                None => break,
            }
        }
    }
    Ok(fields)
}

/// Reads a quoted CSV field after its opening quote.
fn quoted_field(s: &str) -> Result<(String, &str), MountError> {
    let mut out = String::new();
    let mut rest = s;
    loop {
        let Some(i) = rest.find('"') else {
            return Err(MountError::Csv("extraneous or missing \" in quoted-field"));
        };
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        match rest.strip_prefix('"') {
            Some(r) => {
                out.push('"');
                rest = r;
            }
            None => return Ok((out, rest)),
        }
    }
}

#[cfg(test)]
mod tests;
