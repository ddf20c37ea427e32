//! Round trips, determinism and corruption handling of artifact directories.

use arrow_array::{Float64Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use nnqft_store::{Meta, Staging, StoreError, TableWriter, content_hash, open_table, read_all, verify};
use std::path::Path;
use std::sync::Arc;

fn write_artifact(dest: &Path) -> String {
    let schema = Arc::new(Schema::new(vec![
        Field::new("bag", DataType::UInt32, false),
        Field::new("f_0", DataType::Float64, false),
    ]));
    let staging = Staging::new(dest).unwrap();
    let meta = Meta::new(
        "sample",
        serde_json::json!({"b": 2, "a": [1.5, 2.0]}),
        vec!["abc".into()],
    );
    let mut w = TableWriter::create(&staging.path().join("t.parquet"), schema.clone(), &meta).unwrap();
    for k in 0..3u32 {
        let bag = UInt32Array::from(vec![k; 1000]);
        let f = Float64Array::from(
            (0..1000)
                .map(|i| (i as f64 * 0.37 + k as f64).sin())
                .collect::<Vec<_>>(),
        );
        w.write(&RecordBatch::try_new(schema.clone(), vec![Arc::new(bag), Arc::new(f)]).unwrap())
            .unwrap();
        w.flush().unwrap();
    }
    w.finish().unwrap();
    staging.publish().unwrap()
}

/// Standard base64 (with padding) to bytes.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(val).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk.iter().fold(0u32, |acc, &d| (acc << 6) | d as u32) << (6 * (4 - chunk.len()));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn cols() -> Vec<(&'static str, DataType)> {
    vec![("bag", DataType::UInt32), ("f_0", DataType::Float64)]
}

#[test]
fn round_trip_is_deterministic_and_self_describing() {
    let dir = tempfile::tempdir().unwrap();
    let h1 = write_artifact(&dir.path().join("a"));
    let h2 = write_artifact(&dir.path().join("b"));
    assert_eq!(h1, h2, "same content, same bytes");
    assert_eq!(content_hash(&dir.path().join("a")).unwrap(), h1);
    verify(&dir.path().join("a")).unwrap();
    let path = dir.path().join("a/t.parquet");
    let (meta, builder) = open_table(&path, "sample", &cols()).unwrap();
    assert_eq!(meta.params["a"][0], 1.5);
    assert_eq!(meta.inputs, vec!["abc".to_string()]);
    assert_eq!(builder.metadata().num_row_groups(), 3, "flush ends a row group");
    // The provenance is in the stored Arrow schema's metadata as well (what pyarrow's
    // read_table(...).schema.metadata and pandas' attrs show), not only in the Parquet footer. parquet-rs merges
    // the footer into the schema it returns, so look into the stored schema itself: the footer's ARROW:schema
    // value, a base64 IPC message in which the metadata keys and values appear verbatim.
    let kv = builder.metadata().file_metadata().key_value_metadata().unwrap();
    let stored = kv
        .iter()
        .find(|k| k.key == "ARROW:schema")
        .and_then(|k| k.value.clone())
        .unwrap();
    let ipc = base64_decode(&stored);
    for needle in ["nnqft.stage", "nnqft.params", "nnqft.inputs", "\"a\":[1.5,2.0]"] {
        assert!(
            ipc.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the stored Arrow schema lacks {needle}"
        );
    }
    let rows: usize = read_all(&path, builder.build().unwrap())
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 3000);
    // No temporary directories are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn unpublished_staging_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Staging::new(&dir.path().join("x")).unwrap();
        std::fs::write(s.path().join("half"), b"partial").unwrap();
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let dest = dir.path().join("y");
    write_artifact(&dest);
    assert!(matches!(Staging::new(&dest), Err(StoreError::Exists { .. })));
}

#[test]
fn truncated_table_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write_artifact(&dir.path().join("a"));
    let path = dir.path().join("a/t.parquet");
    let bytes = std::fs::read(&path).unwrap();
    for keep in [0, 7, bytes.len() / 2, bytes.len() - 3] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let err = open_table(&path, "sample", &cols()).and_then(|(_, b)| {
            read_all(
                &path,
                b.build().map_err(|e| StoreError::Corrupt {
                    path: path.clone(),
                    detail: e.to_string(),
                })?,
            )
        });
        let msg = err.expect_err("truncated file must not read").to_string();
        assert!(msg.contains("t.parquet"), "{msg}");
        let v = verify(&dir.path().join("a")).unwrap_err();
        assert!(matches!(v, StoreError::HashMismatch { .. }), "{v}");
    }
}

#[test]
fn flipped_bit_is_caught_by_the_manifest_and_never_panics_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    write_artifact(&dir.path().join("a"));
    let path = dir.path().join("a/t.parquet");
    let orig = std::fs::read(&path).unwrap();
    for pos in (0..orig.len()).step_by(orig.len() / 40 + 1) {
        let mut bytes = orig.clone();
        bytes[pos] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let err = verify(&dir.path().join("a")).unwrap_err();
        assert!(
            err.to_string().contains("corrupted") && err.to_string().contains("t.parquet"),
            "{err}"
        );
        // Reading the damaged file directly gives an error or (rarely) different numbers, but never a panic.
        let r = std::panic::catch_unwind(|| {
            open_table(&path, "sample", &cols()).and_then(|(_, b)| match b.build() {
                Ok(r) => read_all(&path, r).map(|_| ()),
                Err(e) => Err(StoreError::Corrupt {
                    path: path.clone(),
                    detail: e.to_string(),
                }),
            })
        });
        assert!(r.is_ok(), "reader panicked on a flipped bit at byte {pos}");
    }
}

#[test]
fn wrong_stage_and_missing_columns_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_artifact(&dir.path().join("a"));
    let path = dir.path().join("a/t.parquet");
    let e = open_table(&path, "moments", &cols()).unwrap_err().to_string();
    assert!(e.contains("'sample' table, expected a 'moments'"), "{e}");
    let e = open_table(&path, "sample", &[("f_9", DataType::Float64)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("column f_9"), "{e}");
    let e = open_table(&dir.path().join("nope.parquet"), "sample", &cols())
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn snappy_compressed_tables_are_read() {
    // pyarrow writes snappy by default; a table written that way (here by parquet-rs with the same codec and the
    // nnqft metadata) must read back with its values intact.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snappy.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("bag", DataType::UInt32, false),
        Field::new("f_0", DataType::Float64, false),
    ]));
    let meta = [
        ("nnqft.stage", "sample"),
        ("nnqft.params", "{\"a\":1}"),
        ("nnqft.inputs", "[]"),
        ("nnqft.schema_version", "1"),
        ("nnqft.tool_version", "pyarrow"),
    ]
    .iter()
    .map(|(k, v)| parquet::file::metadata::KeyValue::new(k.to_string(), v.to_string()))
    .collect();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_key_value_metadata(Some(meta))
        .build();
    let f: Vec<f64> = (0..5000).map(|i| (i % 7) as f64 * 0.5).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt32Array::from(vec![3u32; 5000])),
            Arc::new(Float64Array::from(f.clone())),
        ],
    )
    .unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, Some(props))
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let (m, builder) = open_table(&path, "sample", &cols()).unwrap();
    let codec = builder.metadata().row_group(0).column(1).compression();
    assert_eq!(
        codec,
        parquet::basic::Compression::SNAPPY,
        "the file really is snappy"
    );
    assert_eq!(m.params["a"], 1);
    let batches = read_all(&path, builder.build().unwrap()).unwrap();
    let got: Vec<f64> = batches
        .iter()
        .flat_map(|b| {
            nnqft_store::column::<Float64Array>(&path, b, "f_0")
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(got, f);
}

#[test]
fn a_full_disk_is_named_as_such() {
    // /dev/full answers every write with ENOSPC, as a full disk does.
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipped: no /dev/full on this system");
        return;
    }
    let schema = Arc::new(Schema::new(vec![Field::new("f_0", DataType::Float64, false)]));
    let meta = Meta::new("sample", serde_json::json!({}), vec![]);
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Float64Array::from(vec![0.5; 100_000]))],
    )
    .unwrap();
    let err = TableWriter::create(full, schema, &meta)
        .and_then(|mut w| {
            w.write(&batch)?;
            w.flush()?;
            w.finish()
        })
        .expect_err("nothing can be written to /dev/full");
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("disk full while writing /dev/full: free space and re-run"),
        "{msg}"
    );
    assert!(!msg.contains("not a readable Parquet table"), "{msg}");
    // The same for plain file writes that go through StoreError::io (manifests, staging).
    let e = std::fs::write(full, b"x")
        .map_err(|e| StoreError::io(full, e))
        .unwrap_err();
    assert!(matches!(e, StoreError::DiskFull { .. }), "{e:?}");
}
