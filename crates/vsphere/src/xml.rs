//! A small XML tree for SOAP responses, and escaping for requests.
//!
//! vSphere answers are polymorphic (`xsi:type`) and their namespace prefixes vary between servers
//! (vcsim writes `XMLSchema-instance:type`), so responses are read into a namespace-free tree that
//! keeps local names only; typed decoders then walk the tree.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::error::Error;

/// Deeper nesting than any vSphere answer has; bounds memory and recursion on hostile input.
pub const MAX_DEPTH: usize = 128;
/// Elements in one document. Each costs about 150 bytes of tree whatever its size on the wire
/// (`<a/>` is 4 bytes), so this bounds the tree, not the body's cap: one page of 500 VMs with
/// all the properties this client reads has well under 500,000 elements.
pub const MAX_ELEMENTS: usize = 1_000_000;

/// One element: local name, its `xsi:type` (local part), the unprefixed `type` attribute
/// (a managed object reference's type), its text and its children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub xsi_type: Option<String>,
    pub ref_type: Option<String>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of a child element, if present.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Follows a dotted path of child names, e.g. `deviceInfo.label`.
    pub fn at(&self, path: &str) -> Option<&Element> {
        path.split('.').try_fold(self, |e, name| e.child(name))
    }

    pub fn text_at(&self, path: &str) -> Option<&str> {
        self.at(path).map(|c| c.text.as_str())
    }

    pub fn required(&self, name: &str) -> Result<&Element, Error> {
        self.child(name)
            .ok_or_else(|| Error::decode(format!("<{}> lacks <{name}>", self.name)))
    }

    pub fn required_text(&self, name: &str) -> Result<&str, Error> {
        self.required(name).map(|c| c.text.as_str())
    }

    /// Parses the text at `path` when present; a present but malformed value is an error.
    pub fn parse_at<T: std::str::FromStr>(&self, path: &str) -> Result<Option<T>, Error> {
        match self.text_at(path) {
            None => Ok(None),
            Some(text) => text.trim().parse().map(Some).map_err(|_| {
                Error::decode(format!("<{}>: bad value {text:?} at {path}", self.name))
            }),
        }
    }

    pub fn bool_at(&self, path: &str) -> Result<Option<bool>, Error> {
        match self.text_at(path).map(str::trim) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(other) => Err(Error::decode(format!(
                "<{}>: bad boolean {other:?} at {path}",
                self.name
            ))),
        }
    }

    /// The `xsi:type` if given, else the element name (vSphere omits it where the static type fits).
    pub fn type_name(&self) -> &str {
        self.xsi_type.as_deref().unwrap_or(&self.name)
    }
}

/// Parses a whole document into its root element.
pub fn parse(bytes: &[u8]) -> Result<Element, Error> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    let mut count = || {
        elements += 1;
        if elements > MAX_ELEMENTS {
            Err(Error::decode(format!(
                "XML has more than {MAX_ELEMENTS} elements"
            )))
        } else {
            Ok(())
        }
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| Error::decode(format!("malformed XML: {e}")))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(Error::decode("XML nested too deeply"));
                }
                count()?;
                stack.push(open(&start)?);
            }
            Event::Empty(start) => {
                count()?;
                let element = open(&start)?;
                close(&mut stack, &mut root, element)?;
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| Error::decode("unbalanced XML end tag"))?;
                close(&mut stack, &mut root, element)?;
            }
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    let text = text
                        .xml_content()
                        .map_err(|e| Error::decode(format!("bad text encoding: {e}")))?;
                    top.text.push_str(&text);
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    let text = data
                        .decode()
                        .map_err(|e| Error::decode(format!("bad CDATA encoding: {e}")))?;
                    top.text.push_str(&text);
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push(resolve_reference(&reference)?);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(Error::decode("XML document ends inside an element"));
    }
    root.ok_or_else(|| Error::decode("empty XML document"))
}

fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, Error> {
    if let Some(c) = reference
        .resolve_char_ref()
        .map_err(|e| Error::decode(format!("bad character reference: {e}")))?
    {
        return Ok(c);
    }
    let name = reference
        .decode()
        .map_err(|e| Error::decode(format!("bad entity reference: {e}")))?;
    match name.as_ref() {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        other => Err(Error::decode(format!("unknown XML entity &{other};"))),
    }
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) -> Result<(), Error> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err(Error::decode("XML has more than one root element")),
    }
    Ok(())
}

fn open(start: &BytesStart<'_>) -> Result<Element, Error> {
    let name = utf8(start.local_name().as_ref())?.to_owned();
    let mut element = Element {
        name,
        ..Element::default()
    };
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| Error::decode(format!("bad XML attribute: {e}")))?;
        if attribute.key.local_name().as_ref() != b"type" {
            continue;
        }
        let value = attribute
            .unescape_value()
            .map_err(|e| Error::decode(format!("bad XML attribute value: {e}")))?;
        if attribute.key.prefix().is_some() {
            // `xsd:int`, `vim25:VirtualDisk`, or bare `VirtualDisk`: keep the local part.
            let local = value.rsplit(':').next().unwrap_or_default();
            element.xsi_type = Some(local.to_owned());
        } else {
            element.ref_type = Some(value.into_owned());
        }
    }
    Ok(element)
}

fn utf8(bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|_| Error::decode("XML name is not UTF-8"))
}

/// Escapes text for element content and attribute values.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(text)
}

/// Builds request bodies: `<name>escaped text</name>` pieces appended to a string.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.out.push_str(&escape(value));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn display(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        self.text(name, &value.to_string())
    }

    /// A managed object reference: `<name type="Type">value</name>`.
    pub fn moref(&mut self, name: &str, moref: &crate::MoRef) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(" type=\"");
        self.out.push_str(&escape(&moref.kind));
        self.out.push_str("\">");
        self.out.push_str(&escape(&moref.value));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Opens `<name>` or `<name xsi:type="Type">`; close with [`Writer::close`].
    pub fn open(&mut self, name: &str, xsi_type: Option<&str>) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        if let Some(xsi_type) = xsi_type {
            self.out.push_str(" xsi:type=\"");
            self.out.push_str(&escape(xsi_type));
            self.out.push('"');
        }
        self.out.push('>');
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_local_names_and_type_attributes_whatever_the_prefix() {
        let doc = br#"<soapenv:Envelope xmlns:soapenv="x"><soapenv:Body>
            <val xmlns:XMLSchema-instance="i" XMLSchema-instance:type="ArrayOfVirtualDevice">
              <VirtualDevice xsi:type="vim25:VirtualDisk"><key>202</key></VirtualDevice>
            </val><ref type="Folder">group-d1</ref><t>a &amp; b &#x41;</t></soapenv:Body></soapenv:Envelope>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Envelope");
        let body = root.child("Body").unwrap();
        let val = body.child("val").unwrap();
        assert_eq!(val.xsi_type.as_deref(), Some("ArrayOfVirtualDevice"));
        let device = val.child("VirtualDevice").unwrap();
        assert_eq!(device.type_name(), "VirtualDisk");
        assert_eq!(device.parse_at::<i32>("key").unwrap(), Some(202));
        let reference = body.child("ref").unwrap();
        assert_eq!(reference.ref_type.as_deref(), Some("Folder"));
        assert_eq!(reference.xsi_type, None);
        assert_eq!(body.child_text("t"), Some("a & b A"));
    }

    #[test]
    fn rejects_broken_documents() {
        assert!(parse(b"").is_err());
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a></a><b/>").is_err());
        assert!(parse(b"<a>&bogus;</a>").is_err());
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).is_err());
        let wide = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        let error = parse(wide.as_bytes()).unwrap_err();
        assert!(error.to_string().contains("elements"), "{error}");
        let fits = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS - 1));
        assert_eq!(
            parse(fits.as_bytes()).unwrap().children.len(),
            MAX_ELEMENTS - 1
        );
    }

    #[test]
    fn writer_escapes() {
        let mut w = Writer::new();
        w.text("name", "a<b&c");
        assert_eq!(w.finish(), "<name>a&lt;b&amp;c</name>");
    }
}
