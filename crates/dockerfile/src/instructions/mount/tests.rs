//! Unit tests of `--mount` parsing.

use super::*;
use std::collections::BTreeMap;

fn resolve(raw: &str, vars: &[(&str, &str)]) -> Result<Mount, MountError> {
    let env: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lex = crate::lexer::Lexer::new('\\');
    MountSpec { raw: raw.into() }.resolve(&mut |w| lex.process_word(w, &env))
}

fn check(raw: &str) -> Result<(), MountError> {
    MountSpec { raw: raw.into() }.validate()
}

#[test]
fn cache_mount_with_options() {
    let m = resolve(
        "type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1000,gid=1000",
        &[],
    )
    .unwrap();
    assert_eq!(m.kind, MountType::Cache);
    assert_eq!(m.target.as_deref(), Some("/root/.cache"));
    assert_eq!(
        (m.id.as_deref(), m.sharing),
        (Some("pip"), Some(Sharing::Locked))
    );
    assert_eq!(
        (m.mode, m.uid, m.gid),
        (Some(0o755), Some(1000), Some(1000))
    );
    assert!(!m.read_only, "cache mounts are writable by default");
}

#[test]
fn defaults_and_read_only() {
    let m = resolve("target=/src", &[]).unwrap();
    assert_eq!((m.kind, m.read_only), (MountType::Bind, true));
    let m = resolve("type=bind,source=.,target=/src,rw", &[]).unwrap();
    assert!(!m.read_only);
    let m = resolve("type=tmpfs,target=/t,size=64m", &[]).unwrap();
    assert_eq!((m.read_only, m.size), (false, Some(64 << 20)));
    let m = resolve("type=cache,target=/c,readonly=true", &[]).unwrap();
    assert!(m.read_only);
    let m = resolve("type=bind,target=/c,rw=false", &[]).unwrap();
    assert!(m.read_only);
}

#[test]
fn secrets() {
    let m = resolve(
        "type=secret,id=aws,target=/root/.aws/credentials,required",
        &[],
    )
    .unwrap();
    assert_eq!(
        (m.kind, m.required, m.id.as_deref()),
        (MountType::Secret, true, Some("aws"))
    );
    let m = resolve("type=secret,id=token,env=TOKEN", &[]).unwrap();
    assert_eq!(m.env.as_deref(), Some("TOKEN"));
    assert_eq!(
        resolve("type=secret", &[]),
        Err(MountError::Secret(
            "give one of id=, source=, target= or env="
        ))
    );
    assert!(matches!(
        resolve("type=secret,id=a,source=b", &[]),
        Err(MountError::Secret(_))
    ));
    assert!(matches!(
        resolve("type=secret,id=a,from=x", &[]),
        Err(MountError::Secret(_))
    ));
}

#[test]
fn variables_expand_at_resolve_and_wait_at_parse() {
    let m = resolve("type=cache,target=$DIR,id=${ID:-def}", &[("DIR", "/d")]).unwrap();
    assert_eq!(
        (m.target.as_deref(), m.id.as_deref()),
        (Some("/d"), Some("def"))
    );
    assert_eq!(check("type=cache,target=$DIR,uid=$UID"), Ok(()));
    assert_eq!(check("type=$T,target=/x,size=1g,required"), Ok(()));
    assert_eq!(
        check("from=$STAGE,target=/x"),
        Err(MountError::FromVariable)
    );
    assert!(matches!(
        check("type=cache,bogus=$X"),
        Err(MountError::UnknownKey { .. })
    ));
}

#[test]
fn refusals_name_the_problem() {
    assert_eq!(check("type=ssh"), Err(MountError::Ssh));
    assert_eq!(
        check("type=volume"),
        Err(MountError::UnsupportedType("volume".into()))
    );
    assert_eq!(
        check("type=cache,sharing=sometimes"),
        Err(MountError::UnsupportedSharing("sometimes".into()))
    );
    assert_eq!(
        check("type=bind,target=/x,mode=0700"),
        Err(MountError::NotAllowed {
            what: "mode",
            kind: "bind"
        })
    );
    assert_eq!(
        check("type=bind,target=/x,sharing=shared"),
        Err(MountError::SharingNotCache("bind"))
    );
    assert_eq!(
        check("target=/x,size=1g"),
        Err(MountError::KeyForType {
            key: "size".into(),
            kind: "bind"
        })
    );
    assert_eq!(
        check("type=cache,target"),
        Err(MountError::NotKeyValue("target".into()))
    );
    assert_eq!(
        check("type=cache,uid=x"),
        Err(MountError::InvalidValue {
            key: "uid".into(),
            value: "x".into()
        })
    );
    assert_eq!(
        check("type=tmpfs,size=1.2.3"),
        Err(MountError::InvalidValue {
            key: "size".into(),
            value: "1.2.3".into()
        })
    );
    let e = check("type=cache,targte=/x").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("unexpected key 'targte' in 'targte=/x'"),
        "{e}"
    );
}

#[test]
fn csv_quoting() {
    assert_eq!(
        csv_record("a,\"b,c\",\"d\"\"e\"").unwrap(),
        vec!["a", "b,c", "d\"e"]
    );
    assert_eq!(csv_record("a,").unwrap(), vec!["a", ""]);
    assert!(csv_record("a\"b").is_err());
    assert!(csv_record("\"ab").is_err());
    assert!(csv_record("\"a\"b").is_err());
    assert!(csv_record("").is_err());
    let m = resolve("type=bind,\"target=/a,b\"", &[]).unwrap();
    assert_eq!(m.target.as_deref(), Some("/a,b"));
}

#[test]
fn ram_sizes() {
    assert_eq!(ram_in_bytes("1024"), Some(1024));
    assert_eq!(ram_in_bytes("1k"), Some(1024));
    assert_eq!(ram_in_bytes("1.5GiB"), Some(3 << 29));
    assert_eq!(ram_in_bytes("2 MB"), Some(2 << 20));
    assert_eq!(ram_in_bytes("1x"), None);
    assert_eq!(ram_in_bytes(".5m"), None);
    assert_eq!(ram_in_bytes(""), None);
}
