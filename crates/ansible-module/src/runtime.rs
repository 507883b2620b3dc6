//! Running a module: read the arguments file, validate, run, print exactly one JSON object.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value};

use crate::params::{Invocation, parse_invocation};
use crate::response::Response;
use crate::secrets;
use crate::spec::ModuleArgs;

/// One Ansible module.
pub trait Module {
    /// The module's name, as in `plugins/modules/<NAME>`.
    const NAME: &'static str;
    type Args: ModuleArgs;
    fn run(args: Self::Args, ctx: &mut Context) -> anyhow::Result<Response>;
}

/// What a module knows about its invocation besides its arguments.
#[derive(Debug, Default)]
pub struct Context {
    pub check_mode: bool,
    pub diff: bool,
    pub verbosity: u8,
    pub debug: bool,
    pub no_log: bool,
    /// Ansible's per-task temporary directory on the target, when it gave one.
    pub tmpdir: Option<PathBuf>,
    warnings: Vec<String>,
}

impl Context {
    /// An Ansible warning, shown in the play's output.
    pub fn warn(&mut self, msg: impl Into<String>) {
        self.warnings.push(msg.into());
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

static RESULT_PRINTED: AtomicBool = AtomicBool::new(false);

/// Entry point of a module executable: `argv[1]` is the JSON arguments file. Exits non-zero on
/// failure (Ansible also reads `failed`, which is always set).
pub fn run_module<M: Module>(argv: &[OsString]) -> ExitCode {
    install_panic_hook(M::NAME);
    let result = match argv.get(1) {
        None => failure_json(format!(
            "{name} is an Ansible module: Ansible runs it with the path of a JSON arguments file as \
             its only argument. To run it by hand: `{name} args.json`, or use `vmkit --help`.",
            name = M::NAME
        )),
        Some(path) => match std::fs::read(path) {
            Err(e) => failure_json(format!(
                "cannot read the arguments file {}: {e}",
                PathBuf::from(path).display()
            )),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Err(e) => failure_json(format!(
                    "the arguments file {} is not JSON: {e}",
                    PathBuf::from(path).display()
                )),
                Ok(raw) => run_module_with_args::<M>(raw),
            },
        },
    };
    let failed = result
        .get("failed")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    print_result(result);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs a module on already-read arguments and returns its result object (secrets masked).
pub fn run_module_with_args<M: Module>(raw: Value) -> Value {
    let invocation = match parse_invocation(M::NAME, raw, M::Args::spec()) {
        Ok(inv) => inv,
        Err(e) => return failure_json(e.0),
    };
    init_logging(&invocation);
    if let Ok(what) = std::env::var("VMKIT_TEST_PANIC") {
        // Test-only: proves that a panic still yields one JSON object with no secret in it.
        panic!(
            "VMKIT_TEST_PANIC={what}; parameters: {:?}",
            invocation.params
        );
    }
    let mut ctx = Context {
        check_mode: invocation.flags.check_mode,
        diff: invocation.flags.diff,
        verbosity: invocation.flags.verbosity,
        debug: invocation.flags.debug,
        no_log: invocation.flags.no_log,
        tmpdir: invocation.flags.tmpdir.as_ref().map(PathBuf::from),
        warnings: invocation.warnings.clone(),
    };
    let args: M::Args =
        match serde_path_to_error::deserialize(Value::Object(invocation.params.clone())) {
            Ok(a) => a,
            Err(e) => {
                return failure_json(format!(
                    "argument '{}': {}",
                    e.path(),
                    secrets::scrub_str(&e.inner().to_string())
                ));
            }
        };
    let response = match M::run(args, &mut ctx) {
        Ok(r) => r,
        Err(e) => Response::failed(format!("{e:#}")),
    };
    render(response, &ctx, &invocation)
}

fn render(response: Response, ctx: &Context, invocation: &Invocation) -> Value {
    let mut out = response.data;
    out.insert("changed".into(), Value::Bool(response.changed));
    out.insert("failed".into(), Value::Bool(response.failed));
    if let Some(msg) = response.msg {
        out.insert("msg".into(), Value::String(msg));
    }
    if !ctx.warnings.is_empty() {
        out.insert("warnings".into(), serde_json::json!(ctx.warnings));
    }
    if ctx.diff
        && let Some(diff) = response.diff
    {
        out.insert("diff".into(), diff);
    }
    out.insert(
        "invocation".into(),
        serde_json::json!({ "module_args": invocation.module_args }),
    );
    let mut value = Value::Object(out);
    secrets::scrub_value(&mut value);
    value
}

fn failure_json(msg: String) -> Value {
    let mut out = Map::new();
    out.insert("failed".into(), Value::Bool(true));
    out.insert("changed".into(), Value::Bool(false));
    out.insert(
        "msg".into(),
        Value::String(secrets::scrub_str(&msg).into_owned()),
    );
    Value::Object(out)
}

fn print_result(mut value: Value) {
    if RESULT_PRINTED.swap(true, Ordering::SeqCst) {
        return;
    }
    secrets::scrub_value(&mut value);
    let mut stdout = std::io::stdout().lock();
    // If stdout is gone there is no one left to tell.
    let _ = writeln!(stdout, "{value}");
    let _ = stdout.flush();
}

/// A panic must still give Ansible one JSON object with `failed: true`, with the secrets masked,
/// and a non-zero exit — also in the release build, where panics abort.
fn install_panic_hook(module: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let msg = format!(
            "internal error in module {module} (a bug: please report it with this message): {payload}{location}"
        );
        let msg = secrets::scrub_str(&msg).into_owned();
        let _ = writeln!(std::io::stderr(), "{msg}");
        print_result(failure_json(msg));
        std::process::exit(1);
    }));
}

struct ScrubbingStderr;

impl Write for ScrubbingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(secrets::scrub_str(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Logs go to stderr (Ansible keeps stdout for the result), secrets masked. `VMKIT_LOG` takes
/// a tracing filter (e.g. `debug`, `vsphere=trace`) and wins over `-v` and `debug`.
fn init_logging(invocation: &Invocation) {
    let level = if invocation.flags.debug {
        "debug"
    } else {
        match invocation.flags.verbosity {
            0 => "warn",
            1 | 2 => "info",
            3 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VMKIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| ScrubbingStderr)
        .with_ansi(false)
        .try_init();
}
