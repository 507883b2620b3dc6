//! Power operations: `PowerOnVM_Task`, `PowerOffVM_Task`, and `ShutdownGuest` with a timeout
//! before a hard power-off.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::error::Error;
use crate::moref::MoRef;
use crate::property_collector;
use crate::session::Client;
use crate::task;
use crate::vm::PowerState;

const SHUTDOWN_POLL: Duration = Duration::from_secs(2);

/// Reads `runtime.powerState`.
pub async fn power_state(client: &Client, vm: &MoRef) -> Result<PowerState, Error> {
    let content = property_collector::retrieve_one(client, vm, &["runtime.powerState"])
        .await
        .map_err(|e| crate::vm::not_found_as_vm(e, vm))?;
    Ok(PowerState::from_wire(
        content
            .text("runtime.powerState")
            .unwrap_or_default()
            .trim(),
    ))
}

/// `PowerOnVM_Task`: starts the task.
pub async fn power_on_task(client: &Client, vm: &MoRef) -> Result<MoRef, Error> {
    let response = client.invoke("PowerOnVM_Task", vm, "").await?;
    task::returned_task(&response)
}

/// `PowerOffVM_Task`: starts the task (a hard power-off).
pub async fn power_off_task(client: &Client, vm: &MoRef) -> Result<MoRef, Error> {
    let response = client.invoke("PowerOffVM_Task", vm, "").await?;
    task::returned_task(&response)
}

/// `ShutdownGuest`: asks VMware Tools to shut the guest down; returns at once.
pub async fn shutdown_guest(client: &Client, vm: &MoRef) -> Result<(), Error> {
    client.invoke("ShutdownGuest", vm, "").await?;
    Ok(())
}

pub async fn power_on(client: &Client, vm: &MoRef) -> Result<(), Error> {
    let task_ref = power_on_task(client, vm).await?;
    task::wait(client, &task_ref, |_| {}).await?;
    Ok(())
}

pub async fn power_off(client: &Client, vm: &MoRef) -> Result<(), Error> {
    let task_ref = power_off_task(client, vm).await?;
    task::wait(client, &task_ref, |_| {}).await?;
    Ok(())
}

/// How a VM came to be off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerOffOutcome {
    AlreadyOff,
    GuestShutdown,
    HardPowerOff,
}

/// Makes sure the VM is off: a guest shutdown first when `guest_timeout` is given (waiting at
/// most that long), then a hard power-off. A suspended VM is powered off directly.
pub async fn ensure_powered_off(
    client: &Client,
    vm: &MoRef,
    guest_timeout: Option<Duration>,
) -> Result<PowerOffOutcome, Error> {
    let state = power_state(client, vm).await?;
    if state == PowerState::PoweredOff {
        return Ok(PowerOffOutcome::AlreadyOff);
    }
    if let (PowerState::PoweredOn, Some(timeout)) = (&state, guest_timeout) {
        match shutdown_guest(client, vm).await {
            Ok(()) => {
                let started = Instant::now();
                loop {
                    if power_state(client, vm).await? == PowerState::PoweredOff {
                        info!(vm = %vm, "guest shut down");
                        return Ok(PowerOffOutcome::GuestShutdown);
                    }
                    if started.elapsed() >= timeout {
                        warn!(vm = %vm, seconds = timeout.as_secs(), "guest did not shut down in time; powering off");
                        break;
                    }
                    tokio::time::sleep(SHUTDOWN_POLL.min(timeout)).await;
                }
            }
            // No tools, tools not running…: a hard power-off is the fallback either way.
            Err(e) => warn!(vm = %vm, error = %e, "guest shutdown refused; powering off"),
        }
    }
    match power_off(client, vm).await {
        Ok(()) => Ok(PowerOffOutcome::HardPowerOff),
        // It went off between our look and the power-off.
        Err(e)
            if matches!(
                e.fault().map(|f| &f.kind),
                Some(crate::FaultKind::InvalidPowerState { .. })
            ) && power_state(client, vm).await? == PowerState::PoweredOff =>
        {
            Ok(PowerOffOutcome::GuestShutdown)
        }
        Err(e) => Err(e),
    }
}
