use super::*;

#[test]
fn writes_lines_and_reads_incrementally() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("log");
    let mut w = LogWriter::open(&p).unwrap();
    w.write("stdout", b"a\nb\n").unwrap();
    let (lines, off) = read_from(&p, 0).unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].log, "b\n");
    w.write("stderr", b"partial").unwrap();
    let (lines, _) = read_from(&p, off).unwrap();
    assert_eq!(lines[0].stream, "stderr");
    assert_eq!(lines[0].log, "partial");
}

fn small(max_file: u32) -> LogConfig {
    LogConfig::from_flags(
        None,
        &["max-size=1k".into(), format!("max-file={max_file}")],
        false,
    )
    .unwrap()
}

#[test]
fn rotation_keeps_max_file_files_and_reads_in_order() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("container.log");
    let mut w = LogWriter::open_with(&p, &small(3), BTreeMap::new()).unwrap();
    let (_, mut reader) = LogReader::open(&p).unwrap();
    let mut followed = Vec::new();
    for i in 0..100 {
        w.write("stdout", format!("line {i:03}\n").as_bytes())
            .unwrap();
        if i % 7 == 0 {
            followed.extend(reader.poll().unwrap());
        }
    }
    followed.extend(reader.poll().unwrap());
    assert!(rotated(&p, 2).exists() && !rotated(&p, 3).exists());
    for f in [p.clone(), rotated(&p, 1), rotated(&p, 2)] {
        assert!(std::fs::metadata(&f).unwrap().len() <= 1024, "{f:?}");
    }
    let (all, _) = LogReader::open(&p).unwrap();
    let texts: Vec<&str> = all.iter().map(|l| l.log.as_str()).collect();
    assert!(
        texts.len() < 100,
        "the oldest lines went with the oldest file"
    );
    let want: Vec<String> = (100 - texts.len()..100)
        .map(|i| format!("line {i:03}\n"))
        .collect();
    assert_eq!(texts, want, "in order, nothing lost within what is kept");
    // The follower saw every line once, in order, across two rotations and more.
    let seen: Vec<String> = followed.into_iter().map(|l| l.log).collect();
    let every: Vec<String> = (0..100).map(|i| format!("line {i:03}\n")).collect();
    assert_eq!(seen, every);
}

#[test]
fn one_chunk_of_many_lines_is_rotated_between_lines() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("container.log");
    let mut w = LogWriter::open_with(&p, &small(3), BTreeMap::new()).unwrap();
    let chunk: String = (0..100).map(|i| format!("line {i:03}\n")).collect();
    w.write("stdout", chunk.as_bytes()).unwrap();
    for f in [p.clone(), rotated(&p, 1), rotated(&p, 2)] {
        assert!(std::fs::metadata(&f).unwrap().len() <= 1024, "{f:?}");
    }
    let (all, _) = LogReader::open(&p).unwrap();
    assert_eq!(all.last().unwrap().log, "line 099\n");
}

#[test]
fn one_file_starts_over() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("container.log");
    let mut w = LogWriter::open_with(&p, &small(1), BTreeMap::new()).unwrap();
    for i in 0..100 {
        w.write("stdout", format!("line {i:03}\n").as_bytes())
            .unwrap();
    }
    assert!(!rotated(&p, 1).exists());
    assert!(std::fs::metadata(&p).unwrap().len() <= 1024);
}

#[test]
fn options_are_checked() {
    let c = LogConfig::default();
    assert_eq!(
        (c.max_size, c.max_file),
        (Some(10 << 20), 3),
        "a cap by default"
    );
    let c = LogConfig::from_flags(Some("json-file"), &["max-size=-1".into()], false).unwrap();
    assert_eq!(c.max_size, None);
    assert_eq!(
        LogConfig::from_flags(Some("journald"), &[], false),
        Err(LogError::NoJournal)
    );
    assert!(LogConfig::from_flags(Some("journald"), &[], true).is_ok());
    assert!(matches!(
        LogConfig::from_flags(Some("syslog"), &[], true),
        Err(LogError::UnknownDriver(_))
    ));
    for bad in [
        "max-size=10x",
        "max-size=0",
        "max-file=0",
        "mode=non-blocking",
        "x",
    ] {
        assert!(
            LogConfig::from_flags(None, &[bad.into()], false).is_err(),
            "{bad}"
        );
    }
    assert!(LogConfig::from_flags(Some("none"), &["max-size=1m".into()], false).is_err());
}

#[test]
fn attrs_name_labels_and_env() {
    let c = LogConfig::from_flags(None, &["labels=tier,missing".into(), "env=A".into()], false)
        .unwrap();
    let labels: BTreeMap<String, String> = [("tier".to_string(), "web".to_string())].into();
    let attrs = c.attrs(&labels, &["A=1".into(), "AB=2".into(), "A=3".into()]);
    assert_eq!(
        attrs,
        [
            ("A".to_string(), "3".to_string()),
            ("tier".to_string(), "web".to_string())
        ]
        .into()
    );
}

#[test]
fn follower_catches_up_over_several_rotations_between_polls() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("container.log");
    let mut w = LogWriter::open_with(&p, &small(5), BTreeMap::new()).unwrap();
    let (_, mut reader) = LogReader::open(&p).unwrap();
    let mut seen = Vec::new();
    for i in 0..200 {
        w.write("stdout", format!("line {i:03}\n").as_bytes())
            .unwrap();
        if i % 30 == 29 {
            seen.extend(reader.poll().unwrap().into_iter().map(|l| l.log));
        }
    }
    seen.extend(reader.poll().unwrap().into_iter().map(|l| l.log));
    let every: Vec<String> = (0..200).map(|i| format!("line {i:03}\n")).collect();
    assert_eq!(seen, every);
}

/// A follower polling while the writer writes and rotates in another thread: a
/// rotation can land between the follower's read of its file and its look at
/// which file is current. Enough files are kept that nothing is dropped, so the
/// follower must see every line, once, in order.
#[test]
fn follower_racing_the_writer_loses_nothing() {
    const LINES: usize = 4000;
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("container.log");
    let mut w = LogWriter::open_with(&p, &small(1000), BTreeMap::new()).unwrap();
    let (_, mut reader) = LogReader::open(&p).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        std::thread::spawn(move || {
            for i in 0..LINES {
                w.write("stdout", format!("line {i:05}\n").as_bytes())
                    .unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let mut seen = Vec::new();
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        seen.extend(reader.poll().unwrap().into_iter().map(|l| l.log));
    }
    writer.join().unwrap();
    seen.extend(reader.poll().unwrap().into_iter().map(|l| l.log));
    let every: Vec<String> = (0..LINES).map(|i| format!("line {i:05}\n")).collect();
    let missing = every.iter().filter(|l| !seen.contains(l)).count();
    assert_eq!(missing, 0, "{missing} lines lost by the follower");
    assert_eq!(seen, every);
}

/// A writer killed (kill -9) between two renames of a rotation leaves a gap in
/// the numbers (`.1` renamed to `.2`, `container.log` not yet to `.1`): the
/// older file beyond the gap is still read, before the current one.
#[test]
fn a_rotation_cut_short_leaves_no_file_unread() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("container.log");
    let mut w = LogWriter::open_with(&p, &small(3), BTreeMap::new()).unwrap();
    w.write("stdout", b"old\n").unwrap();
    drop(w);
    std::fs::rename(&p, rotated(&p, 2)).unwrap();
    let mut w = LogWriter::open_with(&p, &small(3), BTreeMap::new()).unwrap();
    w.write("stdout", b"new\n").unwrap();
    let (lines, _) = LogReader::open(&p).unwrap();
    let texts: Vec<&str> = lines.iter().map(|l| l.log.as_str()).collect();
    assert_eq!(texts, ["old\n", "new\n"]);
}

/// The monitor hands the writer whatever one read of the pipe returned, which can
/// end inside a UTF-8 character: its first bytes wait for the rest rather than
/// each becoming U+FFFD. Bytes that are not UTF-8 at all still become U+FFFD.
#[test]
fn a_character_split_between_two_reads_is_kept_whole() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("log");
    let mut w = LogWriter::open(&p).unwrap();
    let text = "héllo €\n".as_bytes();
    w.write("stdout", &text[..2]).unwrap(); // "h" and half of "é"
    w.write("stderr", b"err\n").unwrap(); // the other stream is its own
    w.write("stdout", &text[2..8]).unwrap(); // ends in the middle of "€"
    w.write("stdout", &text[8..9]).unwrap(); // still in it
    w.write("stdout", &text[9..]).unwrap();
    w.write("stdout", b"bad \xff\n").unwrap();
    let (lines, _) = read_from(&p, 0).unwrap();
    let out: String = lines
        .iter()
        .filter(|l| l.stream == "stdout")
        .map(|l| l.log.as_str())
        .collect();
    assert_eq!(out, "héllo €\nbad \u{fffd}\n");
}
