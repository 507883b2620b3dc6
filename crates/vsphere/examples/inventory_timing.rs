//! Times the two ways of reading VMs: every VM's whole model in one `RetrievePropertiesEx`
//! (`vm::list`), and one `vm::get` per VM.
//!
//! `eval "$(scripts/testbed env vsphere)"; cargo run --release -p vsphere --example inventory_timing`

use std::time::Instant;

use vsphere::{Client, ConnectOptions, Password, TlsMode, vm};

fn env(name: &str) -> Result<String, String> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set: eval \"$(scripts/testbed env vsphere)\""))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = ConnectOptions {
        server: env("VMKIT_TEST_VSPHERE_URL")?,
        user: env("VMKIT_TEST_VSPHERE_USER")?,
        password: Password::new(env("VMKIT_TEST_VSPHERE_PASSWORD")?),
        tls: TlsMode::Thumbprint(env("VMKIT_TEST_VSPHERE_THUMBPRINT_SHA256")?.parse()?),
    };
    let client = Client::connect(&options).await?;

    let started = Instant::now();
    let all = vm::list(&client).await?;
    let list_time = started.elapsed();
    println!(
        "vm::list: {} VMs in {:.3} s",
        all.len(),
        list_time.as_secs_f64()
    );

    let started = Instant::now();
    for machine in &all {
        vm::get(&client, &machine.moref).await?;
    }
    let get_time = started.elapsed();
    println!(
        "vm::get per VM: {} VMs in {:.3} s",
        all.len(),
        get_time.as_secs_f64()
    );
    client.logout().await?;
    Ok(())
}
