//! The client against real servers: nbdkit (several plugins and filters) and qemu-nbd.

use std::sync::mpsc;

use nbd::{Connection, Error, NbdUri};
use testbed::disk;
use testbed::nbdkit::{NbdServer, Nbdkit, QemuNbd};

fn connect(server: &NbdServer) -> Connection {
    Connection::connect(&NbdUri::parse(&server.uri()).unwrap()).unwrap()
}

#[test]
fn memory_export_round_trips_every_command() {
    let server = Nbdkit::new("memory").arg("size=4M").start().unwrap();
    let c = connect(&server);
    let info = *c.info();
    assert_eq!(info.size, 4 << 20);
    assert!(info.structured_replies && info.can_block_status());
    assert!(info.can_flush() && info.can_trim() && info.can_write_zeroes() && info.can_cache());

    assert_eq!(c.block_status(0, 4 << 20).unwrap()[0].flags & 3, 3);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8 + 1).collect();
    c.write(12_345, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    c.read(12_345, &mut back).unwrap();
    assert_eq!(back, data);

    let extents = c.block_status(0, 4 << 20).unwrap();
    assert!(
        extents.iter().any(|e| e.flags == 0),
        "written data shows as allocated: {extents:?}"
    );

    c.write_zeroes(12_345, 1000, false).unwrap();
    c.trim(20_000, 10_000).unwrap();
    c.cache(0, 4096).unwrap();
    c.flush().unwrap();
    c.read(12_345, &mut back).unwrap();
    assert!(back[..1000].iter().all(|&b| b == 0));
    assert!(
        back[20_000 - 12_345..30_000 - 12_345]
            .iter()
            .all(|&b| b == 0)
    );
    assert_eq!(back[1000..7655], data[1000..7655]);
}

#[test]
fn many_reads_in_flight_are_matched_to_their_handles() {
    // `pattern` makes each 8-byte word its own offset; nbdkit's thread pool answers out of order.
    let server = Nbdkit::new("pattern")
        .arg("size=64M")
        .option("--threads=16")
        .start()
        .unwrap();
    let c = connect(&server);
    let (tx, rx) = mpsc::channel();
    let requests = 200u64;
    for i in 0..requests {
        let offset = i * 300_008;
        let tx = tx.clone();
        c.submit_read(
            offset,
            vec![0u8; 65_536 + (i as usize % 7) * 8],
            move |buf, r| {
                tx.send((offset, buf, r)).unwrap();
            },
        );
    }
    for _ in 0..requests {
        let (offset, buf, r) = rx.recv().unwrap();
        r.unwrap();
        for (k, word) in buf.chunks_exact(8).enumerate() {
            let expected = offset + 8 * k as u64;
            assert_eq!(u64::from_be_bytes(word.try_into().unwrap()), expected);
        }
    }
}

#[test]
fn never_sends_more_than_the_advertised_maximum() {
    // blocksize-policy advertises the maximum and fails any request above it.
    let server = Nbdkit::new("pattern")
        .arg("size=8M")
        .filter("blocksize-policy")
        .arg("blocksize-maximum=65536")
        .arg("blocksize-error-policy=error")
        .start()
        .unwrap();
    let c = connect(&server);
    assert_eq!(c.max_payload(), 65_536);
    let mut big = vec![0u8; 131_072];
    assert!(matches!(
        c.read(0, &mut big),
        Err(Error::TooLarge { max: 65_536, .. })
    ));
    let mut ok = vec![0u8; 65_536];
    c.read(65_536, &mut ok).unwrap();
    assert_eq!(u64::from_be_bytes(ok[..8].try_into().unwrap()), 65_536);
}

#[test]
fn server_errors_name_command_offset_and_errno() {
    let server = Nbdkit::new("memory")
        .arg("size=1M")
        .filter("error")
        .arg("error-pread=EIO")
        .arg("error-pread-rate=100%")
        .start()
        .unwrap();
    let c = connect(&server);
    let mut buf = vec![0u8; 4096];
    let err = c.read(8192, &mut buf).unwrap_err();
    assert!(err.is_server_error());
    let text = err.to_string();
    assert!(
        text.contains("read at offset 8192 length 4096") && text.contains("EIO"),
        "{text}"
    );
    // The connection survives a failed request.
    c.write(0, &[1, 2, 3]).unwrap();
}

#[test]
fn out_of_range_requests_fail_locally() {
    let server = Nbdkit::new("memory").arg("size=1000").start().unwrap();
    let c = connect(&server);
    let mut buf = [0u8; 10];
    assert!(matches!(
        c.read(995, &mut buf),
        Err(Error::OutOfRange { .. })
    ));
    c.read(990, &mut buf).unwrap();
}

#[test]
fn killed_server_fails_pending_requests_as_disconnected() {
    let mut server = Nbdkit::new("memory")
        .arg("size=64M")
        .filter("delay")
        .arg("rdelay=2")
        .start()
        .unwrap();
    let c = connect(&server);
    let (tx, rx) = mpsc::channel();
    for i in 0..4u64 {
        let tx = tx.clone();
        c.submit_read(i << 20, vec![0u8; 4096], move |_, r| tx.send(r).unwrap());
    }
    server.kill();
    for _ in 0..4 {
        let err = rx.recv().unwrap().unwrap_err();
        assert!(err.is_disconnected(), "{err}");
    }
    assert!(c.closed_reason().is_some());
    let mut buf = [0u8; 8];
    assert!(c.read(0, &mut buf).unwrap_err().is_disconnected());
}

#[test]
fn connects_over_tcp() {
    let server = Nbdkit::new("pattern").arg("size=1M").tcp().start().unwrap();
    assert!(server.uri().starts_with("nbd://127.0.0.1:"));
    let c = connect(&server);
    let mut buf = [0u8; 16];
    c.read(4096, &mut buf).unwrap();
    assert_eq!(u64::from_be_bytes(buf[..8].try_into().unwrap()), 4096);
}

#[test]
fn data_plugin_reads_bytes_at_the_very_end_of_an_odd_sized_export() {
    let server = Nbdkit::new("data")
        .arg("data=1 2 3 @1000 4 5 6")
        .start()
        .unwrap();
    let c = connect(&server);
    assert_eq!(c.size(), 1003);
    let mut buf = [9u8; 6];
    c.read(997, &mut buf).unwrap();
    assert_eq!(buf, [0, 0, 0, 4, 5, 6]);
}

#[test]
fn qemu_nbd_serves_block_status_and_data_of_a_sparse_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.raw");
    let size = 16 << 20;
    disk::sparse_file(&path, size, &[(0, 65_536), (size - 4096, 4096)], 7).unwrap();
    let server = QemuNbd::new(&path)
        .read_only()
        .export("disk")
        .start()
        .unwrap();
    let c = connect(&server);
    assert_eq!(c.size(), size);
    assert!(c.info().read_only());
    let extents = c.block_status(0, size as u32).unwrap();
    assert_eq!(extents[0].flags & 2, 0, "data first: {extents:?}");
    assert_eq!(extents[0].length, 65_536);
    assert!(extents[1].is_zero());
    let mut all = vec![0u8; size as usize];
    for (i, chunk) in all.chunks_mut(1 << 20).enumerate() {
        c.read((i as u64) << 20, chunk).unwrap();
    }
    assert_eq!(disk::sha256_bytes(&all), disk::sha256_file(&path).unwrap());

    let wrong = NbdUri::parse(&server.uri().replace("///disk", "///nope")).unwrap();
    let err = Connection::connect(&wrong).err().unwrap().to_string();
    assert!(err.contains("refused option NBD_OPT_GO"), "{err}");
}
