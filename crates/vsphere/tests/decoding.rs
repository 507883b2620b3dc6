//! Decoding of recorded SOAP responses (faults), and of arbitrary bytes: never a panic.

use proptest::prelude::*;
use vsphere::device::decode_devices;
use vsphere::property_collector::RetrievePage;
use vsphere::soap::decode_response;
use vsphere::{Error, FaultKind, MoRef};

fn fault_of(bytes: &[u8]) -> vsphere::Fault {
    match decode_response(bytes) {
        Err(Error::Fault(fault)) => *fault,
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[test]
fn decodes_typed_faults_with_vspheres_message() {
    let fault = fault_of(include_bytes!("fixtures/fault_invalid_login.xml"));
    assert_eq!(fault.kind, FaultKind::InvalidLogin);
    assert_eq!(
        fault.message,
        "Cannot complete login due to an incorrect user name or password."
    );

    let fault = fault_of(include_bytes!(
        "fixtures/fault_managed_object_not_found.xml"
    ));
    assert_eq!(
        fault.kind,
        FaultKind::ManagedObjectNotFound {
            object: Some(MoRef::virtual_machine("vm-999"))
        }
    );
    assert!(
        fault.message.contains("'vim.VirtualMachine:vm-999'"),
        "{}",
        fault.message
    );

    let fault = fault_of(include_bytes!("fixtures/fault_task_in_progress.xml"));
    assert_eq!(
        fault.kind,
        FaultKind::TaskInProgress {
            task: Some(MoRef::new("Task", "task-42"))
        }
    );
    assert_eq!(
        fault.to_string(),
        "vSphere fault TaskInProgress (task Task:task-42): The operation is not allowed in the current state."
    );

    // An empty faultstring falls back to the fault's own messages.
    let fault = fault_of(include_bytes!("fixtures/fault_invalid_argument.xml"));
    assert_eq!(
        fault.kind,
        FaultKind::InvalidArgument {
            property: Some("changeId".into())
        }
    );
    assert_eq!(
        fault.message,
        "A specified parameter was not correct: changeId"
    );
}

#[test]
fn a_fault_without_detail_keeps_its_code_and_message() {
    let fault = fault_of(
        br#"<Envelope><Body><Fault><faultcode>ClientFaultCode</faultcode><faultstring>bad request</faultstring></Fault></Body></Envelope>"#,
    );
    assert_eq!(fault.type_name, "ClientFaultCode");
    assert_eq!(fault.kind, FaultKind::Other);
    assert_eq!(fault.message, "bad request");
}

/// Element names the decoders look for, so random documents reach deep into them.
const NAMES: &[&str] = &[
    "Envelope",
    "Body",
    "returnval",
    "objects",
    "obj",
    "propSet",
    "name",
    "val",
    "missingSet",
    "token",
    "VirtualDevice",
    "key",
    "backing",
    "deviceInfo",
    "label",
    "capacityInKB",
    "capacityInBytes",
    "controllerKey",
    "unitNumber",
    "fileName",
    "datastore",
    "port",
    "portgroupKey",
    "macAddress",
    "device",
    "Fault",
    "detail",
    "faultstring",
    "fault",
    "path",
];
const TYPES: &[&str] = &[
    "VirtualDisk",
    "VirtualVmxnet3",
    "ParaVirtualSCSIController",
    "VirtualPCIPassthrough",
    "VirtualDiskFlatVer2BackingInfo",
    "VirtualDiskRawDiskMappingVer1BackingInfo",
    "InvalidLogin",
    "ArrayOfVirtualDevice",
    "ManagedObjectReference",
    "xsd:int",
    "VirtualTPM",
    "VirtualUSB",
];

fn element() -> impl Strategy<Value = String> {
    let leaf = (
        prop::sample::select(NAMES),
        prop::option::of(prop::sample::select(TYPES)),
        prop::option::of(prop::sample::select(
            &["Folder", "VirtualMachine", "Datastore"][..],
        )),
        "[-0-9a-z &<>;\\[\\]/:.]{0,12}",
    )
        .prop_map(|(name, xsi, reference, text)| {
            let mut attrs = String::new();
            if let Some(t) = xsi {
                attrs.push_str(&format!(" xsi:type=\"{t}\""));
            }
            if let Some(r) = reference {
                attrs.push_str(&format!(" type=\"{r}\""));
            }
            let text = text.replace('&', "&amp;").replace('<', "&lt;");
            format!("<{name}{attrs}>{text}</{name}>")
        });
    leaf.prop_recursive(6, 64, 6, |inner| {
        (
            prop::sample::select(NAMES),
            prop::collection::vec(inner, 0..6),
        )
            .prop_map(|(name, children)| format!("<{name}>{}</{name}>", children.concat()))
    })
}

fn exercise(bytes: &[u8]) {
    if let Ok(root) = decode_response(bytes) {
        let _ = RetrievePage::decode(&root);
        for val in root.children.iter().flat_map(|c| c.children.iter()) {
            let _ = decode_devices(val);
        }
    }
    if let Ok(root) = vsphere::xml::parse(bytes) {
        let _ = decode_devices(&root);
        let _ = RetrievePage::decode(&root);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_soap_shaped_documents_never_panic(body in element()) {
        let document = format!("<Envelope><Body>{body}</Body></Envelope>");
        exercise(document.as_bytes());
    }

    #[test]
    fn recorded_responses_cut_or_corrupted_never_panic(
        cut in 0usize..6000,
        flip in 0usize..6000,
        byte in any::<u8>(),
    ) {
        let mut bytes = include_bytes!("fixtures/vm_devices.xml").to_vec();
        let at = flip % bytes.len();
        bytes[at] = byte;
        bytes.truncate(cut.min(bytes.len()));
        exercise(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any values under the VM property paths build a model or an error, never a panic.
    #[test]
    fn vm_model_from_arbitrary_properties_never_panics(
        values in prop::collection::vec((prop::sample::select(vsphere::vm::VM_PROPERTIES), element()), 0..24),
        numbers in prop::collection::vec(("[-0-9]{0,12}", prop::sample::select(vsphere::vm::VM_PROPERTIES)), 0..8),
    ) {
        let mut props = Vec::new();
        for (path, xml) in values {
            if let Ok(val) = vsphere::xml::parse(xml.as_bytes()) {
                props.push((path.to_string(), val));
            }
        }
        for (text, path) in numbers {
            props.push((path.to_string(), vsphere::xml::Element { name: "val".into(), text, ..Default::default() }));
        }
        props.push(("name".into(), vsphere::xml::Element { name: "val".into(), text: "x".into(), ..Default::default() }));
        let content = vsphere::property_collector::ObjectContent {
            obj: MoRef::virtual_machine("vm-1"),
            props,
            missing: Vec::new(),
        };
        let _ = vsphere::VirtualMachine::from_content(&content, &vsphere::inventory::Inventory::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// However long the server's fault text, type or file name, the error message stays short.
    #[test]
    fn fault_messages_stay_short_whatever_the_server_sends(
        sizes in prop::collection::vec(0usize..300_000, 3),
        text in "[a-zA-Z0-9 <&>]",
    ) {
        let long = |n: usize| vsphere::xml::escape(&text.repeat(n)).into_owned();
        let document = format!(
            r#"<Envelope><Body><Fault><faultcode>ServerFaultCode</faultcode><faultstring>{}</faultstring><detail><FileNotFoundFault xsi:type="FileNotFound{}"><file>{}</file></FileNotFoundFault></detail></Fault></Body></Envelope>"#,
            long(sizes[0]), long(sizes[1]).replace(' ', ""), long(sizes[2])
        );
        match decode_response(document.as_bytes()) {
            Err(error) => prop_assert!(error.to_string().len() <= 4 * (vsphere::error::MAX_MESSAGE_CHARS * 4 + 64), "{} bytes", error.to_string().len()),
            Ok(_) => prop_assert!(false, "a fault decoded as an answer"),
        }
    }
}
