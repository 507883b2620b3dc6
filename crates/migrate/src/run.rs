//! One migration run of one VM: plan, then power, snapshot, copy each disk, convert, record.
//!
//! Why the steps are in this order (a warm migration must never miss a guest write):
//! 1. The stored `changeID` of a volume always names the snapshot whose state the volume holds:
//!    it is written only after that snapshot's copy finished.
//! 2. A sync takes the new snapshot first, then asks vSphere what changed between the stored
//!    `changeID` and that snapshot, and copies exactly that, read from the snapshot. A write that
//!    races the snapshot call lands either in the snapshot (copied now) or after it (then it is
//!    after the new `changeID` and the next round copies it). Nothing is read from the live disk.
//! 3. The cutover powers the guest off before its snapshot, so no write can follow the last copy.
//! 4. A delta cut short leaves the volume between two states while the stored `changeID` still
//!    names the older one; every block it touched changed after that id, so the next round's
//!    delta (from the same id) covers them again. A full copy cut short is marked incomplete and
//!    is redone from the start.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conversion_host::nbdkit::SecretValue;
use copy_engine::Area;
use futures_util::StreamExt;
use openstack::cinder::volumes::{self, Volume};
use serde::Serialize;
use serde_json::json;
use vsphere::device::{ControllerKind, Disk};
use vsphere::power::PowerOffOutcome;
use vsphere::snapshot::{CreateSnapshot, SnapshotTree};
use vsphere::vm::PowerState;
use vsphere::{FaultKind, MoRef, VirtualMachine};

use crate::attach::{self, Attached};
use crate::cleanup::{Cleanup, Undo};
use crate::conversion::{self, ConvertDisk};
use crate::error::{Error, Result, SourcePower, Step};
use crate::guest_network;
use crate::journal::Journal;
use crate::lease;
use crate::lock::VmLock;
use crate::names::{SNAPSHOT_DESCRIPTION, SNAPSHOT_NAME};
use crate::request::{Phase, Request};
use crate::source::{SourceContext, source_for};
use crate::status::{Span, Step as RunStep};
use crate::transfer::{self, Transfer};
use crate::volume::{self, Found, Holds};

/// The vSphere side: a logged-in client and, for VDDK, the credentials nbdkit logs in with.
pub struct Vsphere<'a> {
    pub client: &'a vsphere::Client,
    pub server: &'a str,
    pub user: &'a str,
    pub password: &'a SecretValue,
}

/// What happens (or happened) to one disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskMode {
    /// Every allocated byte of the snapshot.
    Full,
    /// Only what changed since the volume's stored `changeID`.
    Delta,
    /// The volume already holds the final, converted disk.
    Unchanged,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskOutcome {
    pub key: i32,
    pub label: String,
    pub capacity_bytes: u64,
    pub volume_name: String,
    /// Absent only in check mode, for a volume still to be created.
    pub volume_id: Option<String>,
    pub mode: DiskMode,
    pub bytes_copied: u64,
    pub seconds: f64,
    pub mib_per_s: f64,
    /// The vSphere change id the volume now holds.
    pub change_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub changed: bool,
    pub vm: String,
    pub vm_moref: String,
    pub phase: Phase,
    /// Volume ids in VMware disk order (the first is the boot disk).
    pub volume_ids: Vec<String>,
    pub disks: Vec<DiskOutcome>,
    /// The volumes are final and marked `converted=true` (an instance can be made of them).
    pub converted: bool,
    /// `virt-v2v-in-place` ran on them in this run.
    pub conversion_ran: bool,
    pub power_off: Option<&'static str>,
    pub seconds: f64,
    /// What the operator should know about the volumes' names (a name another VM's volume has,
    /// a VM name with nothing left for a volume name, a volume of the original taken over).
    pub notes: Vec<String>,
    /// Each step's start and end: the wave report's timeline and downtime.
    pub timeline: Vec<Span>,
}

/// The files of a run on the conversion host, in `<osmdatadir>/<safe name or vm>-<uuid>/`.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub dir: std::path::PathBuf,
    pub log_file: std::path::PathBuf,
    pub progress_file: std::path::PathBuf,
}

/// How a run ended, and its files once the VM was known (a run refused before has none, and
/// creates nothing).
#[derive(Debug)]
pub struct Report {
    pub result: Result<Outcome>,
    pub files: Option<RunFiles>,
    /// The steps a run took before it ended, failed or not.
    pub timeline: Vec<Span>,
}

impl Report {
    /// The run failed after it had begun to power the source VM off, and powered it on again.
    pub fn source_power_restored(&self) -> bool {
        matches!(
            &self.result,
            Err(Error::AfterCleanup {
                power: SourcePower::Restored,
                ..
            })
        )
    }
}

struct PlannedDisk {
    disk: Disk,
    name: String,
    existing: Option<Volume>,
    mode: DiskMode,
    /// For a delta: the change id the volume holds.
    from_change_id: Option<String>,
}

/// Plans and, unless in check mode, carries out the migration. `cancel` is set by SIGTERM or
/// SIGINT: the run stops, cleans up and returns [`Error::Cancelled`].
pub async fn migrate(
    vs: &Vsphere<'_>,
    cloud: &openstack::Client,
    request: &Request,
    cancel: copy_engine::Cancel,
) -> Report {
    let mut files = None;
    let mut timeline = Vec::new();
    let result = migrate_vm(vs, cloud, request, cancel, &mut files, &mut timeline).await;
    Report {
        result,
        files,
        timeline,
    }
}

async fn migrate_vm(
    vs: &Vsphere<'_>,
    cloud: &openstack::Client,
    request: &Request,
    cancel: copy_engine::Cancel,
    files_out: &mut Option<RunFiles>,
    timeline_out: &mut Vec<Span>,
) -> Result<Outcome> {
    let started = Instant::now();
    // `timeout` bounds every wait of the run, vSphere's tasks (snapshots, power) too.
    vs.client.set_task_timeout(request.cloud_timeout);
    let vm_ref = find_vm(vs.client, request).await?;
    let vm = vsphere::vm::get(vs.client, &vm_ref)
        .await
        .step(|| format!("cannot read VM {:?}", request.vm_name))?;
    let phase = request.phase;
    let disks: Vec<Disk> = vm.disks().cloned().collect();
    if disks.is_empty() {
        return Err(Error::Refused(format!(
            "VM {:?} has no disks to migrate",
            vm.name
        )));
    }
    if phase.uses_cbt() {
        refuse_warm_blockers(&vm, &disks, request.enable_cbt)?;
    }
    crate::preflight::refuse_unreadable_disks(&vm, &disks, &request.transport)?;
    let vm_uuid = vm
        .instance_uuid
        .as_deref()
        .or(vm.bios_uuid.as_deref())
        .unwrap_or_default();
    let uuid_label = crate::names::uuid_label(vm_uuid).ok_or_else(|| {
        Error::Refused(format!(
            "VM {:?} has no usable uuid (instanceUuid {:?}, uuid {:?}); its volumes are told \
             from other VMs' by it",
            vm.name, vm.instance_uuid, vm.bios_uuid
        ))
    })?;
    let files = RunFiles::new(request, &vm.name, &uuid_label);
    let mut plan = Vec::with_capacity(disks.len());
    let mut notes = Vec::new();
    for disk in disks {
        let placement = volume::find(
            cloud,
            &volume::Identity {
                vm_name: &vm.name,
                vm_uuid,
                uuid_label: &uuid_label,
                disk_key: disk.key,
            },
        )
        .await?;
        notes.extend(placement.note);
        let (existing, holds) = match placement.found {
            Found::Ours(v) => {
                let holds = volume::holds(&v);
                (Some(v), Some(holds))
            }
            Found::Adopted(v) => (Some(v), None),
            Found::New => (None, None),
        };
        let (mode, from_change_id) = match holds {
            Some(Holds::Converted) => (DiskMode::Unchanged, None),
            Some(Holds::Copy {
                change_id: Some(id),
            }) if phase.uses_cbt() && vm.change_tracking_enabled => (DiskMode::Delta, Some(id)),
            _ => (DiskMode::Full, None),
        };
        plan.push(PlannedDisk {
            disk,
            name: placement.name,
            existing,
            mode,
            from_change_id,
        });
    }
    let outcome_of_plan = |changed: bool| Outcome {
        changed,
        vm: vm.name.clone(),
        vm_moref: vm.moref.value.clone(),
        phase,
        volume_ids: plan
            .iter()
            .filter_map(|p| p.existing.as_ref().map(|v| v.id.clone()))
            .collect(),
        disks: plan.iter().map(planned_outcome).collect(),
        converted: plan.iter().all(|p| p.mode == DiskMode::Unchanged),
        conversion_ran: false,
        power_off: None,
        seconds: started.elapsed().as_secs_f64(),
        notes: notes.clone(),
        timeline: Vec::new(),
    };
    *files_out = Some(files.clone());
    if plan.iter().all(|p| p.mode == DiskMode::Unchanged) {
        return Ok(outcome_of_plan(false));
    }
    let conversion_program = match (&request.conversion, phase.is_final()) {
        (Some(options), true) => Some(conversion::preflight(options)?),
        _ => None,
    };
    crate::preflight::refuse_unready_host(request)?;
    let new_disks: Vec<&Disk> = plan
        .iter()
        .filter(|p| p.existing.is_none())
        .map(|p| &p.disk)
        .collect();
    crate::preflight::refuse_unready_cloud(cloud, request, &vm, &new_disks).await?;
    if request.check_mode {
        return Ok(outcome_of_plan(true));
    }

    let server_id = crate::host::server_id(cloud, &request.conversion_host).await?;
    files.create(&request.data_root)?;
    let _lock = VmLock::acquire(&files.dir, &vm.name)?;
    let _lease = request.lease.as_ref().map(lease::Lease::hold).transpose()?;
    let journal = Arc::new(
        Journal::open(
            &vm.name,
            &plan.iter().map(|p| p.disk.key).collect::<Vec<_>>(),
            &files.progress_file,
            &files.log_file,
        )
        .step(|| "cannot open the progress file or log".to_owned())?,
    );
    for note in &notes {
        journal.event("volume_name", note);
    }
    let cleanup = Cleanup::new(cancel);
    journal.event(
        "start",
        format!(
            "migrating {} ({}) {:?} over {}, {} disk(s), conversion host {server_id}",
            vm.name,
            vm.moref.value,
            phase,
            request.transport.name(),
            plan.len()
        ),
    );
    let work = Work {
        vs,
        cloud,
        request,
        files: &files,
        vm: &vm,
        server_id: &server_id,
        journal: Arc::clone(&journal),
        cleanup: Arc::clone(&cleanup),
        conversion_program,
    };
    let result = tokio::select! {
        result = work.run(plan) => result,
        () = cancelled(&cleanup) => Err(Error::Cancelled),
        lapsed = lease::lapsed(request.lease.as_ref()) => Err(lapsed),
    };
    match result {
        Ok(mut outcome) => {
            outcome.seconds = started.elapsed().as_secs_f64();
            outcome.notes.splice(0..0, notes);
            outcome.timeline = journal.timeline();
            *timeline_out = outcome.timeline.clone();
            journal.done(done_line(&outcome), json!(outcome));
            journal.log(format!("done in {:.1} s", outcome.seconds));
            Ok(outcome)
        }
        Err(e) => {
            journal.event("failed", format!("failed: {e}"));
            let (left, power) =
                undo_all(vs.client, cloud, &cleanup, &journal, request.cloud_timeout).await;
            match power {
                SourcePower::Restored => {
                    journal.event("power_on", "the source VM was powered on again");
                }
                SourcePower::LeftOff => journal.event(
                    "power_left_off",
                    "the source VM was left powered off (restore_source_power_on_failure: false)",
                ),
                SourcePower::Untouched | SourcePower::NotRestored => {}
            }
            // Said only now that the cleanup is over, and only as far as it is true.
            if left.is_empty() {
                journal.event("cleaned_up", "the snapshot and attachments were cleaned up");
            } else {
                journal.event(
                    "cleanup_incomplete",
                    format!("NOT cleaned up, do it by hand: {}", left.join("; ")),
                );
            }
            *timeline_out = journal.timeline();
            Err(Error::AfterCleanup {
                cause: Box::new(e),
                left,
                power,
            })
        }
    }
}

/// The status line of a finished run; the role goes on with ports and the server after it.
fn done_line(outcome: &Outcome) -> String {
    let bytes: u64 = outcome.disks.iter().map(|d| d.bytes_copied).sum();
    let next = if outcome.converted {
        "; next: ports and server"
    } else {
        ""
    };
    format!(
        "{} done: {} disk(s), {} copied in {}{next}",
        match outcome.phase {
            Phase::Cold => "migration",
            Phase::WarmSync => "sync",
            Phase::Cutover => "cutover",
        },
        outcome.disks.len(),
        crate::status::size(bytes),
        crate::status::duration(outcome.seconds),
    )
}

async fn cancelled(cleanup: &Cleanup) {
    while !cleanup.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Undoes what a failed or cancelled run left: first the copies stop, then volumes are
/// detached, then the snapshot goes, then the source VM is powered on again. Returns what could
/// not be undone, and what became of the source's power.
async fn undo_all(
    client: &vsphere::Client,
    cloud: &openstack::Client,
    cleanup: &Cleanup,
    journal: &Journal,
    timeout: Duration,
) -> (Vec<String>, SourcePower) {
    // Tears the copies' NBD connections down: a copy blocked on a stalled source ends now.
    cleanup.cancel();
    if !cleanup.copies_stopped(Duration::from_secs(120)).await {
        journal.log("a copy did not stop within 120 s; cleaning up anyway");
    }
    let mut left = Vec::new();
    let mut power = if cleanup.source_left_off() {
        SourcePower::LeftOff
    } else {
        SourcePower::Untouched
    };
    for undo in cleanup.take_all() {
        let powers_on = matches!(undo, Undo::PowerOn { .. });
        // A cloud that just failed may fail once more (a 500 while it recovers): try a few times.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match undo_one(client, cloud, &undo, timeout).await {
                Ok(done) => {
                    journal.log(format!("cleanup: {done}"));
                    if powers_on {
                        power = SourcePower::Restored;
                    }
                    break;
                }
                // The task still runs in vSphere: another request would only fail against it.
                Err(e) if attempt < UNDO_ATTEMPTS && !e.is_task_timeout() => {
                    journal.log(format!("cleanup attempt {attempt} failed, retrying: {e}"));
                    tokio::time::sleep(Duration::from_secs(2 << attempt)).await;
                }
                Err(e) => {
                    journal.log(format!("cleanup failed, do it by hand: {e}"));
                    left.push(e.to_string());
                    if powers_on {
                        power = SourcePower::NotRestored;
                    }
                    break;
                }
            }
        }
    }
    (left, power)
}

const UNDO_ATTEMPTS: u32 = 4;

async fn undo_one(
    client: &vsphere::Client,
    cloud: &openstack::Client,
    undo: &Undo,
    timeout: Duration,
) -> Result<String> {
    match undo {
        Undo::Detach {
            server_id,
            volume_id,
        } => attach::detach(cloud, server_id, volume_id, timeout)
            .await
            .map(|()| format!("detached volume {volume_id}")),
        Undo::RemoveSnapshot { snapshot } => {
            vsphere::snapshot::remove_snapshot(client, snapshot, true, |_| {})
                .await
                .step(|| format!("cannot remove snapshot {snapshot}"))
                .map(|()| format!("removed snapshot {snapshot}"))
        }
        Undo::PowerOn { vm } => {
            let state = vsphere::power::power_state(client, vm)
                .await
                .step(|| format!("cannot read the power state of VM {vm} to power it on again"))?;
            if state == PowerState::PoweredOn {
                return Ok(format!("VM {vm} is powered on"));
            }
            vsphere::power::power_on(client, vm)
                .await
                .step(|| format!("cannot power VM {vm} on again; power it on by hand"))
                .map(|()| format!("powered VM {vm} on again"))
        }
    }
}

fn planned_outcome(p: &PlannedDisk) -> DiskOutcome {
    DiskOutcome {
        key: p.disk.key,
        label: p.disk.label.clone(),
        capacity_bytes: p.disk.capacity_bytes.max(0) as u64,
        volume_name: p.name.clone(),
        volume_id: p.existing.as_ref().map(|v| v.id.clone()),
        mode: p.mode,
        bytes_copied: 0,
        seconds: 0.0,
        mib_per_s: 0.0,
        change_id: p
            .existing
            .as_ref()
            .and_then(|v| v.metadata.get(volume::CHANGE_ID).cloned()),
    }
}

async fn find_vm(client: &vsphere::Client, request: &Request) -> Result<MoRef> {
    if let Some(folder) = request
        .folder
        .as_deref()
        .filter(|f| !f.trim_matches('/').is_empty())
    {
        let path = vsphere::finder::inventory_path(folder, &request.vm_name);
        if let Some(found) = vsphere::finder::find_by_inventory_path(client, &path)
            .await
            .step(|| format!("cannot look up /{path}"))?
            .filter(|m| m.kind == "VirtualMachine")
        {
            return Ok(found);
        }
        tracing::debug!(
            path,
            "nothing at the inventory path; looking the VM up by name"
        );
    }
    vsphere::finder::find_by_name(client, &request.vm_name)
        .await
        .step(|| format!("cannot find VM {:?} (argument 'vmname')", request.vm_name))
}

/// What makes a warm migration impossible or unsafe, said before anything changes.
fn refuse_warm_blockers(vm: &VirtualMachine, disks: &[Disk], enable_cbt: bool) -> Result<()> {
    let independent: Vec<String> = disks
        .iter()
        .filter(|d| d.disk_mode.as_ref().is_some_and(|m| m.is_independent()))
        .map(|d| format!("{} ({})", d.label, d.key))
        .collect();
    if !independent.is_empty() {
        return Err(Error::Refused(format!(
            "VM {:?} has independent disks ({}): they are not in snapshots, so a warm migration \
             cannot copy them consistently; migrate it cold (cbt_sync: false; module option \
             cbtsync), or make the disks persistent (VM powered off)",
            vm.name,
            independent.join(", ")
        )));
    }
    if !vm.change_tracking_enabled && !enable_cbt {
        return Err(Error::Refused(format!(
            "changed block tracking is off on VM {:?}; a warm migration (cbt_sync) needs it: set \
             enable_cbt: true to turn it on, or migrate cold (cbt_sync: false)",
            vm.name
        )));
    }
    Ok(())
}

impl RunFiles {
    fn new(request: &Request, vm_name: &str, uuid_label: &str) -> Self {
        let dir = request
            .data_root
            .join(crate::names::vm_dir_name(vm_name, uuid_label));
        RunFiles {
            log_file: dir.join("migrate.log"),
            progress_file: request
                .progress_file
                .clone()
                .unwrap_or_else(|| dir.join("migrate-progress.jsonl")),
            dir,
        }
    }

    /// Makes the data directory (when absent) and the VM's private one. A data directory
    /// another user owns or can write to is refused: files planted there could redirect ours.
    fn create(&self, root: &std::path::Path) -> Result<()> {
        use conversion_host::private_files::{private_dir, shared_root};
        shared_root(root).map_err(|e| {
            Error::Refused(format!(
                "osmdatadir {}: {e}; use a directory only this user can write (the default \
                 /var/lib/os-migrate, or the roles' /opt/os-migrate)",
                root.display()
            ))
        })?;
        private_dir(&self.dir).map_err(|e| {
            Error::Refused(format!(
                "the VM's directory {} under osmdatadir: {e}; remove it",
                self.dir.display()
            ))
        })
    }
}

struct Work<'a> {
    vs: &'a Vsphere<'a>,
    cloud: &'a openstack::Client,
    request: &'a Request,
    files: &'a RunFiles,
    vm: &'a VirtualMachine,
    server_id: &'a str,
    journal: Arc<Journal>,
    cleanup: Arc<Cleanup>,
    conversion_program: Option<conversion::Converter>,
}

impl Work<'_> {
    async fn run(&self, plan: Vec<PlannedDisk>) -> Result<Outcome> {
        let client = self.vs.client;
        let vm = self.vm;
        let phase = self.request.phase;
        self.remove_leftovers(&plan).await?;

        let mut power_off = None;
        if phase.is_final() {
            if vm.power_state == PowerState::PoweredOn {
                // Registered before the power-off begins: a cancel during the guest shutdown
                // must power the VM on again too.
                if self.request.restore_source_power {
                    self.cleanup.register(Undo::PowerOn {
                        vm: vm.moref.clone(),
                    });
                } else {
                    self.cleanup.leave_source_off();
                }
            }
            let _step = self.journal.step(
                RunStep::PowerOff,
                None,
                if vm.power_state == PowerState::PoweredOn {
                    format!(
                        "shutting the guest down (hard power-off after {} s)",
                        self.request.poweroff_timeout.as_secs()
                    )
                } else {
                    "checking that the VM is off".to_owned()
                },
            );
            // Before the snapshot: a write after it would be lost.
            let outcome = vsphere::power::ensure_powered_off(
                client,
                &vm.moref,
                Some(self.request.poweroff_timeout),
            )
            .await
            .step(|| format!("cannot power off VM {:?}", vm.name))?;
            let said = match outcome {
                PowerOffOutcome::AlreadyOff => "already_off",
                PowerOffOutcome::GuestShutdown => "guest_shutdown",
                PowerOffOutcome::HardPowerOff => "hard_power_off",
            };
            self.journal.event("power_off", format!("VM power: {said}"));
            power_off = Some(said);
        }
        if phase.uses_cbt() && !vm.change_tracking_enabled {
            vsphere::cbt::set_change_tracking(client, &vm.moref, true)
                .await
                .step(|| format!("cannot enable changed block tracking on {:?}", vm.name))?;
            self.journal
                .event("cbt_enabled", "changed block tracking enabled");
        }

        // One snapshot for every disk: the disks are consistent with each other.
        let step = self
            .journal
            .step(RunStep::Snapshot, None, "taking one snapshot of every disk");
        let snapshot = vsphere::snapshot::create_snapshot(
            client,
            &vm.moref,
            &CreateSnapshot {
                name: SNAPSHOT_NAME.into(),
                description: SNAPSHOT_DESCRIPTION.into(),
                quiesce: false,
            },
            |_| {},
        )
        .await
        .step(|| format!("cannot snapshot VM {:?}", vm.name))?;
        let snapshot_undo = Undo::RemoveSnapshot {
            snapshot: snapshot.clone(),
        };
        self.cleanup.register(snapshot_undo.clone());
        self.journal
            .event("snapshot", format!("snapshot {} taken", snapshot.value));
        let frozen: BTreeMap<i32, Disk> = vsphere::snapshot::snapshot_disks(client, &snapshot)
            .await
            .step(|| format!("cannot read the disks of snapshot {}", snapshot.value))?
            .into_iter()
            .map(|d| (d.key, d))
            .collect();
        drop(step);

        let parallelism = self.request.disk_parallelism.max(1);
        let (snapshot_ref, frozen_ref) = (&snapshot, &frozen);
        let jobs = plan.iter().enumerate().map(|(index, planned)| async move {
            (
                index,
                self.disk(planned, snapshot_ref, frozen_ref.get(&planned.disk.key))
                    .await,
            )
        });
        let mut results: Vec<(usize, Result<(DiskOutcome, Volume)>)> =
            futures_util::stream::iter(jobs)
                .buffer_unordered(parallelism)
                .collect()
                .await;
        results.sort_by_key(|(i, _)| *i);
        let mut outcomes = Vec::with_capacity(results.len());
        for (_, result) in results {
            outcomes.push(result?);
        }

        let step = self.journal.step(
            RunStep::SnapshotRemoval,
            None,
            format!("removing snapshot {}", snapshot.value),
        );
        vsphere::snapshot::remove_snapshot(client, &snapshot, true, |_| {})
            .await
            .step(|| format!("cannot remove snapshot {}", snapshot.value))?;
        drop(step);
        self.cleanup.done(&snapshot_undo);
        self.journal.event(
            "snapshot_removed",
            format!("snapshot {} removed", snapshot.value),
        );

        let mut conversion_ran = false;
        let mut notes = Vec::new();
        if phase.is_final() {
            if let (Some(program), Some(options)) =
                (&self.conversion_program, &self.request.conversion)
            {
                notes.extend(self.convert(program, options, &outcomes).await?);
                conversion_ran = true;
            }
            self.finalize(&outcomes, conversion_ran).await?;
        }
        // A sync round that found nothing to copy changed nothing an operator cares about.
        let changed = phase.is_final()
            || outcomes
                .iter()
                .any(|(d, _)| d.mode == DiskMode::Full || d.bytes_copied > 0)
            || power_off.is_some_and(|p| p != "already_off");
        Ok(Outcome {
            changed,
            vm: vm.name.clone(),
            vm_moref: vm.moref.value.clone(),
            phase,
            volume_ids: outcomes
                .iter()
                .filter_map(|(d, _)| d.volume_id.clone())
                .collect(),
            disks: outcomes.into_iter().map(|(d, _)| d).collect(),
            converted: phase.is_final(),
            conversion_ran,
            power_off,
            seconds: 0.0,
            notes,
            timeline: Vec::new(),
        })
    }

    /// What a crashed run left: our snapshot, our volumes attached to this conversion host.
    async fn remove_leftovers(&self, plan: &[PlannedDisk]) -> Result<()> {
        // A start-up takes at most a minute; older directories without a server are a killed run's.
        for dir in conversion_host::nbdkit::remove_stale_private_dirs(&std::env::temp_dir()) {
            self.journal
                .log(format!("removed {} left by a killed nbdkit", dir.display()));
        }
        for snapshot in our_snapshots(&self.vm.snapshots) {
            self.journal.event(
                "leftover",
                format!(
                    "removing snapshot {} left by an earlier run",
                    snapshot.value
                ),
            );
            vsphere::snapshot::remove_snapshot(self.vs.client, &snapshot, true, |_| {})
                .await
                .step(|| format!("cannot remove the leftover snapshot {}", snapshot.value))?;
        }
        for volume in plan.iter().filter_map(|p| p.existing.as_ref()) {
            if volume
                .attachments
                .iter()
                .any(|a| a.server_id == self.server_id)
            {
                self.journal.event(
                    "leftover",
                    format!(
                        "detaching volume {} left attached by an earlier run",
                        volume.id
                    ),
                );
                attach::detach(
                    self.cloud,
                    self.server_id,
                    &volume.id,
                    self.request.cloud_timeout,
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn disk(
        &self,
        planned: &PlannedDisk,
        snapshot: &MoRef,
        frozen: Option<&Disk>,
    ) -> Result<(DiskOutcome, Volume)> {
        let key = planned.disk.key;
        let mut outcome = planned_outcome(planned);
        if planned.mode == DiskMode::Unchanged {
            let volume = planned.existing.clone().ok_or_else(|| {
                Error::Refused(format!("disk {key}: an unchanged disk without a volume"))
            })?;
            self.journal
                .record(json!({"disk": key, "volume_id": volume.id, "phase": "done",
                "mode": "unchanged", "bytes_done": 0, "bytes_total": 0, "percent": 100.0}));
            return Ok((outcome, volume));
        }
        let frozen = frozen.ok_or_else(|| {
            Error::Refused(format!(
                "disk {key} ({}) is not in snapshot {}; independent disks are not snapshotted",
                planned.disk.label, snapshot.value
            ))
        })?;
        let capacity = frozen.capacity_bytes.max(0) as u64;
        let volume_step = self.journal.step(
            RunStep::Volume,
            Some(key),
            match &planned.existing {
                Some(v) => format!("attaching volume {}", v.id),
                None => format!("creating volume {}", planned.name),
            },
        );
        let (volume, fresh) = match &planned.existing {
            Some(v) => (v.clone(), false),
            None => {
                let created = volume::create(
                    self.cloud,
                    &volume::NewVolume {
                        name: &planned.name,
                        capacity_bytes: capacity,
                        volume_type: self.volume_type(&planned.disk),
                        availability_zone: self.request.availability_zone.clone(),
                        origin: self.origin(key),
                    },
                    self.request.cloud_timeout,
                )
                .await?;
                self.journal.event(
                    "volume_created",
                    format!(
                        "disk {key}: volume {} ({}) created",
                        created.name, created.id
                    ),
                );
                (created, true)
            }
        };
        if volume.size * (1 << 30) < capacity {
            return Err(Error::Refused(format!(
                "disk {key}: volume {} holds {} GiB, less than the disk's {capacity} bytes; \
                 extend or delete it",
                volume.id, volume.size
            )));
        }
        outcome.volume_id = Some(volume.id.clone());

        let mut mode = planned.mode;
        let mut areas = None;
        if let (DiskMode::Delta, Some(from)) = (mode, &planned.from_change_id) {
            match self.changed_areas(snapshot, frozen, from).await {
                Ok(list) => areas = Some(list),
                Err(why) => {
                    self.journal.event(
                        "full_copy",
                        format!("disk {key}: {why}; copying the whole disk instead"),
                    );
                    mode = DiskMode::Full;
                }
            }
        }
        outcome.mode = mode;
        let new_change_id = frozen.change_id.clone();
        if mode == DiskMode::Delta && areas.as_ref().is_some_and(Vec::is_empty) {
            // Nothing changed: the volume already holds this snapshot's state; only its id moves.
            volume::merge(
                self.cloud,
                &volume.id,
                &[(volume::CHANGE_ID, new_change_id.clone().unwrap_or_default())],
            )
            .await?;
            outcome.change_id = new_change_id;
            drop(volume_step);
            self.journal
                .record(json!({"disk": key, "volume_id": volume.id, "phase": "done",
                "mode": "delta", "bytes_done": 0, "bytes_total": 0, "percent": 100.0}));
            return Ok((outcome, volume));
        }
        if mode == DiskMode::Full && !fresh {
            // Stamped with this VM first: a volume taken over from the original is ours from now.
            let mut pairs: Vec<(&str, String)> =
                vec![(volume::COPY_STATE, volume::INCOMPLETE.into())];
            let origin = self.origin(key);
            pairs.extend(origin.iter().map(|(k, v)| (k.as_str(), v.clone())));
            volume::merge(self.cloud, &volume.id, &pairs).await?;
        }

        let attached = attach::attach(
            self.cloud,
            &self.cleanup,
            self.server_id,
            &volume.id,
            capacity,
            self.request.cloud_timeout,
        )
        .await?;
        let source = source_for(
            &SourceContext {
                client: self.vs.client,
                vm: self.vm,
                snapshot,
                server: self.vs.server,
                user: self.vs.user,
                password: self.vs.password,
            },
            &self.request.transport,
            frozen,
        )?;
        let transfer = Transfer {
            disk_key: key,
            volume_id: volume.id.clone(),
            source,
            device: attached.device.path.clone(),
            capacity_bytes: capacity,
            areas,
            destination_is_zero: fresh && self.request.assume_zero,
            nbdkit_log: self.files.dir.join(format!("nbdkit-{key}.log")),
            nbdkit_verbose: self.request.nbdkit_verbose,
            nbd_timeout: self.request.nbd_timeout,
        };
        drop(volume_step);
        let copy_step = self.journal.step(
            RunStep::Copy,
            Some(key),
            format!(
                "{} copy into volume {} through {}",
                if mode == DiskMode::Delta {
                    "delta"
                } else {
                    "full"
                },
                volume.id,
                attached.device.path.display()
            ),
        );
        let cleanup = Arc::clone(&self.cleanup);
        let journal = Arc::clone(&self.journal);
        let copied = tokio::task::spawn_blocking(move || transfer::run(transfer, cleanup, journal))
            .await
            .map_err(|e| Error::Refused(format!("disk {key}: the copy thread ended: {e}")))?;
        let Attached { device, undo } = attached;
        drop(device);
        let report = copied?;
        attach::detach(
            self.cloud,
            self.server_id,
            &volume.id,
            self.request.cloud_timeout,
        )
        .await?;
        self.cleanup.done(&undo);
        drop(copy_step);

        let pairs = [
            (volume::COPY_STATE, volume::COMPLETE.to_owned()),
            (volume::CHANGE_ID, new_change_id.clone().unwrap_or_default()),
            ("migrated_at", volume::now()),
        ];
        volume::merge(self.cloud, &volume.id, &pairs).await?;
        let seconds = report.elapsed.as_secs_f64();
        outcome.bytes_copied = report.bytes_total;
        outcome.seconds = (seconds * 1000.0).round() / 1000.0;
        outcome.mib_per_s = if seconds > 0.0 {
            ((report.bytes_total as f64 / 1048576.0 / seconds) * 10.0).round() / 10.0
        } else {
            0.0
        };
        outcome.change_id = new_change_id;
        self.journal.record(json!({"disk": key, "volume_id": volume.id, "phase": "done",
            "mode": outcome.mode, "bytes_done": report.bytes_total, "bytes_total": report.bytes_total,
            "percent": 100.0, "seconds": outcome.seconds, "mib_per_s": outcome.mib_per_s}));
        self.journal.log(format!(
            "disk {key}: {} bytes in {:.1} s ({} MiB/s)",
            report.bytes_total, seconds, outcome.mib_per_s
        ));
        Ok((outcome, volume))
    }

    async fn changed_areas(
        &self,
        snapshot: &MoRef,
        frozen: &Disk,
        from: &str,
    ) -> std::result::Result<Vec<Area>, String> {
        match vsphere::cbt::changed_areas(
            self.vs.client,
            &self.vm.moref,
            Some(snapshot),
            frozen.key,
            frozen.capacity_bytes,
            from,
        )
        .await
        {
            Ok(extents) => Ok(extents
                .into_iter()
                .filter(|e| e.length > 0 && e.start >= 0)
                .map(|e| Area::new(e.start as u64, e.length as u64))
                .collect()),
            // vSphere no longer knows the id (CBT was reset): only a full copy is safe.
            Err(e)
                if e.fault().is_some_and(|f| {
                    matches!(
                        f.kind,
                        FaultKind::FileFault { .. } | FaultKind::InvalidArgument { .. }
                    )
                }) =>
            {
                Err(format!(
                    "vSphere cannot tell what changed since {from}: {e}"
                ))
            }
            Err(e) => Err(format!("cannot query changed areas: {e}")),
        }
    }

    fn volume_type(&self, disk: &Disk) -> Option<String> {
        crate::preflight::datastore_type(self.request, disk)
            .or_else(|| self.request.volume_type.clone())
    }

    fn origin(&self, key: i32) -> BTreeMap<String, String> {
        let mut origin = BTreeMap::from([
            ("vmware_vm".to_owned(), self.vm.name.clone()),
            ("vmware_disk_key".to_owned(), key.to_string()),
        ]);
        if let Some(uuid) = self
            .vm
            .instance_uuid
            .as_ref()
            .or(self.vm.bios_uuid.as_ref())
        {
            origin.insert("vmware_vm_uuid".into(), uuid.clone());
        }
        origin
    }

    async fn convert(
        &self,
        program: &conversion::Converter,
        options: &crate::request::ConversionOptions,
        outcomes: &[(DiskOutcome, Volume)],
    ) -> Result<Option<String>> {
        let wanted: Vec<&(DiskOutcome, Volume)> = if options.multi_disk {
            outcomes.iter().collect()
        } else {
            outcomes.iter().take(1).collect()
        };
        let mut attached = Vec::new();
        for (disk, volume) in &wanted {
            let a = attach::attach(
                self.cloud,
                &self.cleanup,
                self.server_id,
                &volume.id,
                disk.capacity_bytes,
                self.request.cloud_timeout,
            )
            .await?;
            let bus = self
                .vm
                .disks()
                .find(|d| d.key == disk.key)
                .and_then(|d| d.controller.as_ref())
                .map(|c| bus_of(&c.kind))
                .unwrap_or("virtio");
            attached.push((a, bus, volume.id.clone()));
        }
        let disks: Vec<ConvertDisk> = attached
            .iter()
            .map(|(a, bus, _)| ConvertDisk {
                device: a.device.path.clone(),
                bus,
            })
            .collect();
        let _step = self.journal.step(
            RunStep::Conversion,
            None,
            format!("running {}", conversion::PROGRAM),
        );
        let linux = vm_export::convert::vmkit_info(self.vm).guest.family == "linux";
        // The addresses VMware Tools reported when the run began (the VM may be off by now).
        let network_script = guest_network::script(&guest_network::nics_of(self.vm));
        let program = program.clone();
        let options = options.clone();
        let name = self.vm.name.clone();
        let work_dir = self.files.dir.clone();
        let log = self.files.dir.join("virt-v2v.log");
        let cancel = self.cleanup.cancel_handle();
        // Counted as a writer to the attached volumes: a cleanup detaches them only once the
        // conversion has stopped.
        let writing = self.cleanup.copy_started();
        let result = tokio::task::spawn_blocking(move || {
            let _writing = writing;
            let guest = conversion::Guest {
                vm_name: &name,
                linux,
                network_script,
            };
            conversion::convert(&program, &cancel, &guest, &disks, &options, &work_dir, &log)
        })
        .await
        .map_err(|e| Error::Conversion(format!("the conversion thread ended: {e}")))?;
        for (a, _, volume_id) in attached {
            let Attached { device, undo } = a;
            drop(device);
            attach::detach(
                self.cloud,
                self.server_id,
                &volume_id,
                self.request.cloud_timeout,
            )
            .await?;
            self.cleanup.done(&undo);
        }
        let note = result?;
        if let Some(note) = &note {
            self.journal.event("guest_network", note);
        }
        self.journal.event("converted", "guest converted");
        Ok(note)
    }

    /// Final disks: marked converted (so the instance is made), the boot volume bootable with
    /// the image properties Nova boots it with.
    async fn finalize(
        &self,
        outcomes: &[(DiskOutcome, Volume)],
        conversion_ran: bool,
    ) -> Result<()> {
        let _step = self
            .journal
            .step(RunStep::Finalize, None, "marking the volumes final");
        for (disk, volume) in outcomes
            .iter()
            .filter(|(d, _)| d.mode != DiskMode::Unchanged)
        {
            volume::merge(
                self.cloud,
                &volume.id,
                &[
                    (volume::CONVERTED, "true".into()),
                    ("guest_converted", conversion_ran.to_string()),
                ],
            )
            .await?;
            tracing::debug!(disk = disk.key, volume = %volume.id, "marked converted");
        }
        if let Some((_, boot)) = outcomes.first() {
            volumes::set_bootable(self.cloud, &boot.id, true)
                .await
                .step(|| format!("cannot mark volume {} bootable", boot.id))?;
            let properties = image_metadata::image_metadata(
                &vm_export::convert::vmkit_info(self.vm),
                conversion_ran,
            );
            volumes::set_image_metadata(self.cloud, &boot.id, &properties)
                .await
                .step(|| format!("cannot set the image properties of volume {}", boot.id))?;
        }
        Ok(())
    }
}

fn bus_of(kind: &ControllerKind) -> &'static str {
    match kind {
        ControllerKind::Scsi(_) => "scsi",
        ControllerKind::Sata => "sata",
        ControllerKind::Ide => "ide",
        _ => "virtio",
    }
}

fn our_snapshots(trees: &[SnapshotTree]) -> Vec<MoRef> {
    let mut found = Vec::new();
    for tree in trees {
        if tree.name == SNAPSHOT_NAME {
            found.push(tree.snapshot.clone());
        }
        found.extend(our_snapshots(&tree.children));
    }
    found
}
