//! On the test bed, a real Cinder volume's device is a loop device over the volume's file,
//! set up through the documented `VMKIT_TEST_LOOP_VOLUME_DIR`. Bytes written through the
//! device land in the volume's file, and the loop device is gone once the device is dropped.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use conversion_host::device::{LOOP_VOLUME_DIR_ENV, Resolver};
use openstack::cinder::volumes;

const GIB: u64 = 1 << 30;

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test needs the test bed's OpenStack. Run \
             `scripts/testbed up openstack; eval \"$(scripts/testbed env)\"` first."
        )
    })
}

#[test]
fn testbed_volume_loop_device_writes_reach_the_volume_file() {
    let cloud = required_env("VMKIT_TEST_CLOUD");
    let loop_dir = PathBuf::from(required_env(LOOP_VOLUME_DIR_ENV));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime
        .block_on(openstack::connect(Some(&openstack::CloudArg::Name(cloud))))
        .expect("connect to the test bed's cloud");
    let volume = runtime
        .block_on(volumes::create(
            &client,
            &volumes::CreateOpts {
                name: "vmkit-test-loop-device".into(),
                size: 1,
                metadata: BTreeMap::from([("vmkit_test".into(), "loop-device".into())]),
                ..Default::default()
            },
        ))
        .expect("create a volume");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime
            .block_on(volumes::wait_status(
                &client,
                &volume.id,
                "available",
                Duration::from_secs(120),
            ))
            .expect("volume becomes available");

        let device = Resolver::from_env()
            .resolve(&volume.id, GIB, Duration::from_secs(30))
            .expect("a loop device over the volume's file");
        assert!(
            device.path.to_string_lossy().starts_with("/dev/loop"),
            "{}",
            device.path.display()
        );
        assert_eq!(device.size, GIB);
        let loop_name = device
            .path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let backing_file = format!("/sys/block/{loop_name}/loop/backing_file");
        let backing = std::fs::read_to_string(&backing_file).expect("the loop device is attached");
        assert!(
            backing.trim().ends_with(&format!("volume-{}", volume.id)),
            "{backing}"
        );

        let writes: [(u64, &[u8]); 3] = [
            (0, b"first sector of the volume"),
            (GIB / 2 + 4096, b"half way, 4 KiB in"),
            (GIB - 512, b"the last sector of the volume"),
        ];
        {
            let mut dev = std::fs::OpenOptions::new()
                .write(true)
                .open(&device.path)
                .unwrap();
            for (offset, data) in writes {
                dev.seek(SeekFrom::Start(offset)).unwrap();
                dev.write_all(data).unwrap();
            }
            dev.sync_all().unwrap();
        }
        let mut file = std::fs::File::open(loop_dir.join(format!("volume-{}", volume.id))).unwrap();
        for (offset, data) in writes {
            let mut read = vec![0u8; data.len()];
            file.seek(SeekFrom::Start(offset)).unwrap();
            file.read_exact(&mut read).unwrap();
            assert_eq!(read, data, "bytes at offset {offset} in the volume's file");
        }

        drop(device);
        // Autoclear detaches the loop device once its last holder closes it.
        let detached = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            !PathBuf::from(&backing_file).exists()
        });
        assert!(
            detached,
            "{loop_name} is still attached after the device was dropped"
        );
    }));
    let _ = runtime.block_on(volumes::delete(&client, &volume.id));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
