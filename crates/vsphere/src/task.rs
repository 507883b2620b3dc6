//! Tasks: the `…_Task` methods return a `Task` whose `info` is watched until it succeeds or fails.

use std::time::Duration;

use tracing::debug;

use crate::error::Error;
use crate::fault::Fault;
use crate::moref::MoRef;
use crate::property_collector;
use crate::session::Client;
use crate::xml::{Element, Writer};

/// Poll intervals: quick at first (most tasks finish in well under a second), then slower.
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(2);
/// How long one `WaitForUpdatesEx` may block before answering "nothing new".
const WATCH_WAIT_SECONDS: u32 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Queued,
    Running,
    Success,
    Error,
    Other(String),
}

/// The parts of `TaskInfo` a caller needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub task: MoRef,
    /// `descriptionId`, e.g. `VirtualMachine.createSnapshot`.
    pub description: String,
    pub state: TaskState,
    pub progress: Option<i32>,
    /// `info.result` (e.g. the new snapshot's reference).
    pub result: Option<Element>,
    pub error: Option<Fault>,
}

impl TaskInfo {
    pub fn decode(task: &MoRef, info: &Element) -> Result<Self, Error> {
        let state = match info.child_text("state").map(str::trim) {
            Some("queued") => TaskState::Queued,
            Some("running") => TaskState::Running,
            Some("success") => TaskState::Success,
            Some("error") => TaskState::Error,
            Some(other) => TaskState::Other(other.to_owned()),
            None => return Err(Error::decode(format!("{task} info has no state"))),
        };
        Ok(Self {
            task: task.clone(),
            description: info
                .child_text("descriptionId")
                .or_else(|| info.child_text("name"))
                .unwrap_or_default()
                .to_owned(),
            state,
            progress: info.parse_at("progress")?,
            result: info.child("result").cloned(),
            error: info.child("error").map(Fault::from_localized),
        })
    }
}

/// Reads a task's `info` once.
pub async fn info(client: &Client, task: &MoRef) -> Result<TaskInfo, Error> {
    let content = property_collector::retrieve_one(client, task, &["info"]).await?;
    let info = content
        .get("info")
        .ok_or_else(|| Error::decode(format!("{task} has no info")))?;
    TaskInfo::decode(task, info)
}

/// Waits until the task succeeds (its info returned) or fails ([`Error::TaskFailed`] with
/// vSphere's fault). `progress` gets each new percentage. Watches the task with
/// `WaitForUpdatesEx`; polls its `info` if the server cannot (or the session changed under it).
pub async fn wait(
    client: &Client,
    task: &MoRef,
    mut progress: impl FnMut(i32),
) -> Result<TaskInfo, Error> {
    let mut last_progress = None;
    let mut report = |info: &TaskInfo| {
        if let Some(p) = info.progress
            && last_progress != Some(p)
        {
            last_progress = Some(p);
            progress(p);
        }
    };
    let bound = client.task_timeout();
    let waited = tokio::time::timeout(bound, async {
        match watch(client, task, &mut report).await {
            Ok(info) => Ok(info),
            Err(e) => {
                debug!(task = %task, error = %e, "watching the task failed; polling it");
                poll(client, task, &mut report).await
            }
        }
    })
    .await;
    match waited {
        Ok(info) => finish(task, info?),
        Err(_) => Err(Error::TaskTimedOut {
            task: task.value.clone(),
            after: bound,
        }),
    }
}

fn is_done(info: &TaskInfo) -> bool {
    matches!(info.state, TaskState::Success | TaskState::Error)
}

fn finish(task: &MoRef, info: TaskInfo) -> Result<TaskInfo, Error> {
    if info.state == TaskState::Success {
        debug!(task = %task, description = %info.description, "task succeeded");
        return Ok(info);
    }
    let fault = info.error.clone().unwrap_or(Fault {
        type_name: "MethodFault".into(),
        kind: crate::FaultKind::Other,
        message: "task failed without a fault".into(),
    });
    Err(Error::TaskFailed {
        task: task.value.clone(),
        description: info.description,
        fault: Box::new(fault),
    })
}

/// Reads `info` until the task is done, quickly at first, then less often.
async fn poll(
    client: &Client,
    task: &MoRef,
    report: &mut impl FnMut(&TaskInfo),
) -> Result<TaskInfo, Error> {
    let mut delay = FIRST_POLL;
    loop {
        let info = info(client, task).await?;
        report(&info);
        if is_done(&info) {
            return Ok(info);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_POLL);
    }
}

/// Watches `info` through a property collector of its own (so concurrent waits do not see each
/// other's updates), destroyed afterwards; returns the final info, success or error alike.
/// [`wait`] is what callers want; this is its first half, without the polling fallback.
pub async fn watch(
    client: &Client,
    task: &MoRef,
    report: &mut impl FnMut(&TaskInfo),
) -> Result<TaskInfo, Error> {
    let service_collector = client.service_content().property_collector.clone();
    let response = client
        .invoke("CreatePropertyCollector", &service_collector, "")
        .await?;
    let collector = MoRef::from_element(response.required("returnval")?)?;
    let outcome = watch_with(client, &collector, task, report).await;
    if let Err(e) = client
        .invoke("DestroyPropertyCollector", &collector, "")
        .await
    {
        debug!(collector = %collector, error = %e, "cannot destroy the task's property collector");
    }
    outcome
}

async fn watch_with(
    client: &Client,
    collector: &MoRef,
    task: &MoRef,
    report: &mut impl FnMut(&TaskInfo),
) -> Result<TaskInfo, Error> {
    let spec = property_collector::FilterSpec {
        props: vec![property_collector::PropertySpec::new("Task", &["info"])],
        objects: vec![property_collector::ObjectSpec::new(task.clone())],
    };
    let mut w = Writer::new();
    spec.write(&mut w, "spec");
    w.display("partialUpdates", false);
    client
        .invoke("CreateFilter", collector, &w.finish())
        .await?;
    let mut version = String::new();
    loop {
        let mut w = Writer::new();
        w.text("version", &version)
            .open("options", None)
            .display("maxWaitSeconds", WATCH_WAIT_SECONDS)
            .close("options");
        let response = client
            .invoke("WaitForUpdatesEx", collector, &w.finish())
            .await?;
        // No returnval: nothing changed within maxWaitSeconds.
        let Some(update_set) = response.child("returnval") else {
            continue;
        };
        version = update_set
            .child_text("version")
            .unwrap_or_default()
            .to_owned();
        let changes = update_set
            .children("filterSet")
            .flat_map(|f| f.children("objectSet"))
            .flat_map(|o| o.children("changeSet"))
            .filter(|c| c.child_text("name") == Some("info"));
        for change in changes {
            let Some(val) = change.child("val") else {
                continue;
            };
            let info = TaskInfo::decode(task, val)?;
            report(&info);
            if is_done(&info) {
                return Ok(info);
            }
        }
    }
}

/// The task reference a `…_Task` method returns.
pub(crate) fn returned_task(response: &Element) -> Result<MoRef, Error> {
    MoRef::from_element(response.required("returnval")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_failed_task() {
        let response =
            crate::soap::decode_response(include_bytes!("../tests/fixtures/task_error.xml"))
                .unwrap();
        let val = response.at("returnval.objects.propSet.val").unwrap();
        let info = TaskInfo::decode(&MoRef::new("Task", "task-7"), val).unwrap();
        assert_eq!(info.state, TaskState::Error);
        let fault = info.error.unwrap();
        assert_eq!(fault.type_name, "FileNotFound");
        assert_eq!(
            fault.kind,
            crate::FaultKind::FileFault {
                file: Some("[ds] vm/vm.vmdk".into())
            }
        );
        assert_eq!(fault.message, "File [ds] vm/vm.vmdk was not found");
    }
}
