//! The property collector: `RetrievePropertiesEx` with `ContinueRetrievePropertiesEx` pagination,
//! and the filter specs (property, object and traversal specs) that choose what is read.

use crate::error::Error;
use crate::fault::Fault;
use crate::moref::MoRef;
use crate::session::Client;
use crate::xml::{Element, Writer};

/// Objects asked for per page; servers may return fewer (vcsim ignores it and returns all).
const PAGE_SIZE: u32 = 500;

/// Which properties to read from objects of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertySpec {
    pub kind: String,
    pub paths: Vec<String>,
}

impl PropertySpec {
    pub fn new(kind: &str, paths: &[&str]) -> Self {
        Self {
            kind: kind.to_owned(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

/// How to reach more objects from one: follow `path` on objects of type `kind`, then the named
/// selections in `select`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraversalSpec {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub skip: bool,
    pub select: Vec<String>,
}

impl TraversalSpec {
    pub fn new(name: &str, kind: &str, path: &str, select: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            kind: kind.to_owned(),
            path: path.to_owned(),
            skip: false,
            select: select.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// A starting object and the traversals to apply from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSpec {
    pub obj: MoRef,
    pub skip: bool,
    pub select: Vec<TraversalSpec>,
}

impl ObjectSpec {
    pub fn new(obj: MoRef) -> Self {
        Self {
            obj,
            skip: false,
            select: Vec::new(),
        }
    }
}

/// A `PropertyFilterSpec`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilterSpec {
    pub props: Vec<PropertySpec>,
    pub objects: Vec<ObjectSpec>,
}

impl FilterSpec {
    /// Writes the spec as the element `name` (`specSet` for retrieves, `spec` for filters).
    pub(crate) fn write(&self, w: &mut Writer, name: &str) {
        w.open(name, None);
        for prop in &self.props {
            w.open("propSet", None).text("type", &prop.kind);
            w.text("all", "false");
            for path in &prop.paths {
                w.text("pathSet", path);
            }
            w.close("propSet");
        }
        for object in &self.objects {
            w.open("objectSet", None).moref("obj", &object.obj);
            w.display("skip", object.skip);
            for traversal in &object.select {
                w.open("selectSet", Some("TraversalSpec"))
                    .text("name", &traversal.name)
                    .text("type", &traversal.kind)
                    .text("path", &traversal.path)
                    .display("skip", traversal.skip);
                for name in &traversal.select {
                    w.open("selectSet", None)
                        .text("name", name)
                        .close("selectSet");
                }
                w.close("selectSet");
            }
            w.close("objectSet");
        }
        w.close(name);
    }
}

/// One object's properties as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectContent {
    pub obj: MoRef,
    /// Property path → the `<val>` element (absent when the property is unset).
    pub props: Vec<(String, Element)>,
    /// Properties the server could not read, with why.
    pub missing: Vec<(String, Fault)>,
}

impl ObjectContent {
    pub fn get(&self, path: &str) -> Option<&Element> {
        self.props.iter().find(|(p, _)| p == path).map(|(_, v)| v)
    }

    pub fn text(&self, path: &str) -> Option<&str> {
        self.get(path).map(|v| v.text.as_str())
    }

    pub fn moref(&self, path: &str) -> Result<Option<MoRef>, Error> {
        self.get(path).map(MoRef::from_element).transpose()
    }

    /// The references of an `ArrayOfManagedObjectReference` property.
    pub fn morefs(&self, path: &str) -> Result<Vec<MoRef>, Error> {
        match self.get(path) {
            None => Ok(Vec::new()),
            Some(val) => val.children.iter().map(MoRef::from_element).collect(),
        }
    }

    fn decode(element: &Element) -> Result<Self, Error> {
        let obj = MoRef::from_element(element.required("obj")?)?;
        let mut props = Vec::new();
        for prop in element.children("propSet") {
            let name = prop.required_text("name")?.to_owned();
            if let Some(val) = prop.child("val") {
                props.push((name, val.clone()));
            }
        }
        let missing = element
            .children("missingSet")
            .map(|m| {
                let path = m.child_text("path").unwrap_or_default().to_owned();
                let fault = match m.child("fault") {
                    Some(f) => Fault::from_localized(f),
                    None => Fault::from_detail(m, ""),
                };
                (path, fault)
            })
            .collect();
        Ok(Self {
            obj,
            props,
            missing,
        })
    }
}

/// One page of a `RetrieveResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrievePage {
    pub objects: Vec<ObjectContent>,
    pub token: Option<String>,
}

impl RetrievePage {
    /// Decodes a `RetrievePropertiesExResponse` / `ContinueRetrievePropertiesExResponse`;
    /// no `returnval` means nothing matched.
    pub fn decode(response: &Element) -> Result<Self, Error> {
        let Some(result) = response.child("returnval") else {
            return Ok(Self {
                objects: Vec::new(),
                token: None,
            });
        };
        let objects = result
            .children("objects")
            .map(ObjectContent::decode)
            .collect::<Result<_, _>>()?;
        let token = result
            .child_text("token")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok(Self { objects, token })
    }
}

/// Some servers (vcsim) answer a retrieve without a session with `NotAuthenticated` per
/// property instead of a fault; that is a lost session too.
fn session_lost(response: &Element) -> Result<(), Error> {
    let lost = response
        .children("returnval")
        .flat_map(|r| r.children("objects"))
        .flat_map(|o| o.children("missingSet"))
        .filter_map(|m| m.at("fault.fault"))
        .any(|f| f.type_name() == "NotAuthenticated");
    if lost {
        return Err(Error::from(Fault {
            type_name: "NotAuthenticated".into(),
            kind: crate::FaultKind::NotAuthenticated,
            message: "the session is not authenticated".into(),
        }));
    }
    Ok(())
}

/// `RetrievePropertiesEx`: the first page.
pub async fn retrieve_properties_ex(
    client: &Client,
    spec: &FilterSpec,
    max_objects: u32,
) -> Result<RetrievePage, Error> {
    let mut w = Writer::new();
    spec.write(&mut w, "specSet");
    w.open("options", None)
        .display("maxObjects", max_objects)
        .close("options");
    let this = &client.service_content().property_collector;
    let response = client
        .invoke_checked("RetrievePropertiesEx", this, &w.finish(), session_lost)
        .await?;
    RetrievePage::decode(&response)
}

/// `ContinueRetrievePropertiesEx`: the page after `token`.
pub async fn continue_retrieve_properties_ex(
    client: &Client,
    token: &str,
) -> Result<RetrievePage, Error> {
    let mut w = Writer::new();
    w.text("token", token);
    let this = &client.service_content().property_collector;
    let response = client
        .invoke_checked(
            "ContinueRetrievePropertiesEx",
            this,
            &w.finish(),
            session_lost,
        )
        .await?;
    RetrievePage::decode(&response)
}

/// Reads every object a filter selects, following pagination to the end.
pub async fn retrieve(client: &Client, spec: &FilterSpec) -> Result<Vec<ObjectContent>, Error> {
    let mut page = retrieve_properties_ex(client, spec, PAGE_SIZE).await?;
    let mut objects = std::mem::take(&mut page.objects);
    while let Some(token) = page.token.take() {
        page = continue_retrieve_properties_ex(client, &token).await?;
        objects.append(&mut page.objects);
    }
    Ok(objects)
}

/// Reads some properties of one object.
pub async fn retrieve_one(
    client: &Client,
    obj: &MoRef,
    paths: &[&str],
) -> Result<ObjectContent, Error> {
    let spec = FilterSpec {
        props: vec![PropertySpec::new(&obj.kind, paths)],
        objects: vec![ObjectSpec::new(obj.clone())],
    };
    retrieve(client, &spec)
        .await?
        .into_iter()
        .find(|o| o.obj == *obj)
        .ok_or_else(|| Error::decode(format!("no properties returned for {obj}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::decode_response;

    #[test]
    fn writes_filter_specs_in_schema_order() {
        let spec = FilterSpec {
            props: vec![PropertySpec::new(
                "VirtualMachine",
                &["name", "config.uuid"],
            )],
            objects: vec![ObjectSpec {
                obj: MoRef::new("Folder", "group-d1"),
                skip: true,
                select: vec![TraversalSpec::new("f", "Folder", "childEntity", &["f"])],
            }],
        };
        let mut w = Writer::new();
        spec.write(&mut w, "specSet");
        assert_eq!(
            w.finish(),
            concat!(
                "<specSet><propSet><type>VirtualMachine</type><all>false</all>",
                "<pathSet>name</pathSet><pathSet>config.uuid</pathSet></propSet>",
                r#"<objectSet><obj type="Folder">group-d1</obj><skip>true</skip>"#,
                r#"<selectSet xsi:type="TraversalSpec"><name>f</name><type>Folder</type>"#,
                "<path>childEntity</path><skip>false</skip><selectSet><name>f</name></selectSet>",
                "</selectSet></objectSet></specSet>"
            )
        );
    }

    #[test]
    fn decodes_pages_tokens_and_missing_properties() {
        let first =
            decode_response(include_bytes!("../tests/fixtures/retrieve_page1.xml")).unwrap();
        let page = RetrievePage::decode(&first).unwrap();
        assert_eq!(page.token.as_deref(), Some("1"));
        assert_eq!(page.objects.len(), 2);
        let vm = &page.objects[0];
        assert_eq!(vm.obj, MoRef::virtual_machine("vm-1"));
        assert_eq!(vm.text("name"), Some("a & b"));
        assert_eq!(
            vm.moref("parent").unwrap(),
            Some(MoRef::new("Folder", "group-v3"))
        );
        assert_eq!(vm.morefs("network").unwrap().len(), 2);
        assert_eq!(vm.missing.len(), 1);
        assert_eq!(vm.missing[0].0, "config.bootOptions");
        assert_eq!(vm.missing[0].1.type_name, "InvalidProperty");

        let last = decode_response(include_bytes!("../tests/fixtures/retrieve_page2.xml")).unwrap();
        let page = RetrievePage::decode(&last).unwrap();
        assert_eq!(page.token, None);
        assert_eq!(page.objects.len(), 1);

        let empty = decode_response(
            br#"<Envelope><Body><RetrievePropertiesExResponse/></Body></Envelope>"#,
        )
        .unwrap();
        assert_eq!(RetrievePage::decode(&empty).unwrap().objects.len(), 0);
    }
}
