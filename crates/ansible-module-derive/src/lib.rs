//! `#[derive(ModuleArgs)]`: the argument struct of a module *is* its Ansible argument spec.
//!
//! The original collection documented its options in `.py` files that its Go code never read,
//! and the two drifted apart. Here the spec (names, types, required, defaults, `no_log`,
//! aliases, choices) is generated from the struct, and a test compares it with the module's
//! DOCUMENTATION, so they cannot drift.
//!
//! Field attributes, all inside `#[arg(...)]`:
//! - `default = <literal>`: a string, integer, float or bool literal, or `[]`/`{}`.
//! - `no_log`: a secret; never echoed in output, logs or panics. A string one must be a `Secret`.
//! - `aliases = ["a", "b"]`, `choices = ["x", "y"]`.
//! - `env = ["VAR"]`: the option falls back to these environment variables (Ansible's
//!   `env_fallback`); a required one is then missing only when none of them is set either.
//! - `type = "path"` (or any Ansible type) where the Rust type does not say it.
//! - `elements = "str"` for list element types the Rust type does not say.
//! - `unused = "why"`: accepted for compatibility with the original, has no effect (a warning).
//! - `required`: force required even for an `Option` (rarely useful).
//! - `flatten`: the field is itself a `ModuleArgs` struct whose options are the parent's, in the
//!   field's place (a group of options several modules share). The field must also carry
//!   `#[serde(flatten)]`, which reads those options from the same flat map; unknown keys are still
//!   refused with every option of the merged spec listed.
//!
//! A non-`Option` field without a default is required.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{
    Data, DeriveInput, Expr, ExprArray, ExprLit, Fields, GenericArgument, Lit, LitStr,
    PathArguments, Type, parse_macro_input, spanned::Spanned,
};

#[proc_macro_derive(ModuleArgs, attributes(arg))]
pub fn derive_module_args(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

#[derive(Default, PartialEq)]
struct FieldAttrs {
    default: Option<String>,
    no_log: bool,
    required: bool,
    aliases: Vec<String>,
    env: Vec<String>,
    choices: Vec<String>,
    arg_type: Option<String>,
    elements: Option<String>,
    unused: Option<String>,
    flatten: bool,
}

/// One piece of the spec: a field's own option, or a flattened struct's options.
enum SpecPart {
    Own(TokenStream2),
    Flattened(Type),
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(input.span(), "ModuleArgs needs a struct"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new(
            input.span(),
            "ModuleArgs needs named fields",
        ));
    };

    let mut parts = Vec::new();
    for field in &fields.named {
        let Some(ident) = &field.ident else { continue };
        let key = ident.to_string().trim_start_matches("r#").to_string();
        let attrs = parse_attrs(&field.attrs)?;
        if attrs.flatten {
            parts.push(SpecPart::Flattened(flattened_type(field, &attrs)?));
            continue;
        }
        let (optional, inner) = strip_option(&field.ty);
        let (inferred_type, inferred_elements) = infer_type(inner);
        let arg_type = match attrs.arg_type.clone().or(inferred_type) {
            Some(t) => t,
            None => {
                return Err(syn::Error::new(
                    field.ty.span(),
                    "cannot infer the Ansible type of this field: add #[arg(type = \"...\")]",
                ));
            }
        };
        check_ansible_type(&arg_type, field.span())?;
        let elements = attrs.elements.clone().or(inferred_elements);
        if let Some(e) = &elements {
            check_ansible_type(e, field.span())?;
        }
        if attrs.no_log
            && arg_type == "str"
            && last_segment(inner).is_none_or(|s| s.ident != "Secret")
        {
            return Err(syn::Error::new(
                field.ty.span(),
                "a no_log string must be an ansible_module::Secret, so Debug and Display cannot show it",
            ));
        }
        let required = attrs.required || (!optional && attrs.default.is_none());
        let default = match &attrs.default {
            Some(d) => quote! { ::core::option::Option::Some(#d) },
            None => quote! { ::core::option::Option::None },
        };
        let elements = match &elements {
            Some(e) => {
                let e = type_variant(e);
                quote! { ::core::option::Option::Some(#e) }
            }
            None => quote! { ::core::option::Option::None },
        };
        let unused = match &attrs.unused {
            Some(u) => quote! { ::core::option::Option::Some(#u) },
            None => quote! { ::core::option::Option::None },
        };
        let arg_type = type_variant(&arg_type);
        let no_log = attrs.no_log;
        let aliases = &attrs.aliases;
        let env = &attrs.env;
        let choices = &attrs.choices;
        parts.push(SpecPart::Own(quote! {
            ::ansible_module::ArgSpec {
                name: #key,
                arg_type: #arg_type,
                elements: #elements,
                required: #required,
                default: #default,
                no_log: #no_log,
                aliases: &[#(#aliases),*],
                env: &[#(#env),*],
                choices: &[#(#choices),*],
                unused: #unused,
            }
        }));
    }

    if parts.iter().all(|p| matches!(p, SpecPart::Own(_))) {
        let specs = parts.iter().filter_map(|p| match p {
            SpecPart::Own(spec) => Some(spec),
            SpecPart::Flattened(_) => None,
        });
        return Ok(quote! {
            impl ::ansible_module::ModuleArgs for #name {
                fn spec() -> &'static [::ansible_module::ArgSpec] {
                    static SPEC: &[::ansible_module::ArgSpec] = &[#(#specs),*];
                    SPEC
                }
            }
        });
    }
    // A flattened struct's spec is another type's static: the merged one is built once.
    let pushes = parts.iter().map(|p| match p {
        SpecPart::Own(spec) => quote! { spec.push(#spec); },
        SpecPart::Flattened(ty) => quote! {
            spec.extend_from_slice(<#ty as ::ansible_module::ModuleArgs>::spec());
        },
    });
    Ok(quote! {
        impl ::ansible_module::ModuleArgs for #name {
            fn spec() -> &'static [::ansible_module::ArgSpec] {
                static SPEC: ::std::sync::OnceLock<::std::vec::Vec<::ansible_module::ArgSpec>> =
                    ::std::sync::OnceLock::new();
                SPEC.get_or_init(|| {
                    let mut spec = ::std::vec::Vec::new();
                    #(#pushes)*
                    spec
                })
            }
        }
    })
}

/// The type of an `#[arg(flatten)]` field, checked: no other `arg` key, and `#[serde(flatten)]`.
fn flattened_type(field: &syn::Field, attrs: &FieldAttrs) -> syn::Result<Type> {
    let alone = FieldAttrs {
        flatten: true,
        ..FieldAttrs::default()
    };
    if *attrs != alone {
        return Err(syn::Error::new(
            field.span(),
            "#[arg(flatten)] takes no other #[arg] key: the flattened struct's fields carry them",
        ));
    }
    let serde_flatten = field.attrs.iter().any(|attr| match &attr.meta {
        syn::Meta::List(list) if list.path.is_ident("serde") => {
            list.tokens.clone().into_iter().any(
                |token| matches!(token, proc_macro2::TokenTree::Ident(ident) if ident == "flatten"),
            )
        }
        _ => false,
    });
    if !serde_flatten {
        return Err(syn::Error::new(
            field.span(),
            "#[arg(flatten)] needs #[serde(flatten)] too, so the options are read from the same map",
        ));
    }
    if strip_option(&field.ty).0 {
        return Err(syn::Error::new(
            field.ty.span(),
            "#[arg(flatten)] needs the struct itself, not an Option: make its fields optional instead",
        ));
    }
    Ok(field.ty.clone())
}

const ANSIBLE_TYPES: &[&str] = &["str", "bool", "int", "float", "path", "list", "dict", "raw"];

fn check_ansible_type(t: &str, span: proc_macro2::Span) -> syn::Result<()> {
    if ANSIBLE_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(syn::Error::new(
            span,
            format!("unknown Ansible type {t:?}; use one of {ANSIBLE_TYPES:?}"),
        ))
    }
}

fn type_variant(t: &str) -> TokenStream2 {
    match t {
        "str" => quote! { ::ansible_module::ArgType::Str },
        "bool" => quote! { ::ansible_module::ArgType::Bool },
        "int" => quote! { ::ansible_module::ArgType::Int },
        "float" => quote! { ::ansible_module::ArgType::Float },
        "path" => quote! { ::ansible_module::ArgType::Path },
        "list" => quote! { ::ansible_module::ArgType::List },
        "dict" => quote! { ::ansible_module::ArgType::Dict },
        _ => quote! { ::ansible_module::ArgType::Raw },
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    }
}

fn first_generic(seg: &syn::PathSegment) -> Option<&Type> {
    match &seg.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

fn strip_option(ty: &Type) -> (bool, &Type) {
    if let Some(seg) = last_segment(ty)
        && seg.ident == "Option"
        && let Some(inner) = first_generic(seg)
    {
        return (true, inner);
    }
    (false, ty)
}

/// The Ansible type a Rust type stands for, and the element type of a list.
fn infer_type(ty: &Type) -> (Option<String>, Option<String>) {
    let Some(seg) = last_segment(ty) else {
        return (None, None);
    };
    let simple = |name: &str| -> Option<&'static str> {
        Some(match name {
            "String" => "str",
            "bool" => "bool",
            "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => {
                "int"
            }
            "f32" | "f64" => "float",
            "PathBuf" => "path",
            "Secret" => "str",
            "Value" => "raw",
            "Map" | "HashMap" | "BTreeMap" => "dict",
            _ => return None,
        })
    };
    let ident = seg.ident.to_string();
    if ident == "Vec" {
        let elements = first_generic(seg)
            .and_then(last_segment)
            .and_then(|s| simple(&s.ident.to_string()))
            .map(str::to_string);
        return (Some("list".into()), elements);
    }
    (simple(&ident).map(str::to_string), None)
}

fn lit_to_json(expr: &Expr) -> syn::Result<String> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Str(s) => Ok(quote_json_string(&s.value())),
            Lit::Int(i) => Ok(i.base10_digits().to_string()),
            Lit::Float(f) => Ok(f.base10_digits().to_string()),
            Lit::Bool(b) => Ok(b.value.to_string()),
            other => Err(syn::Error::new(other.span(), "unsupported default literal")),
        },
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => {
            Ok(format!("-{}", lit_to_json(&u.expr)?))
        }
        Expr::Array(ExprArray { elems, .. }) => {
            let items: syn::Result<Vec<String>> = elems.iter().map(lit_to_json).collect();
            Ok(format!("[{}]", items?.join(",")))
        }
        Expr::Block(b) if b.block.stmts.is_empty() => Ok("{}".into()),
        other => Err(syn::Error::new(
            other.span(),
            "default must be a literal, a list of literals, or {}",
        )),
    }
}

fn quote_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn string_list(expr: &Expr) -> syn::Result<Vec<String>> {
    let Expr::Array(arr) = expr else {
        return Err(syn::Error::new(expr.span(), "expected [\"...\", ...]"));
    };
    arr.elems
        .iter()
        .map(|e| match e {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(s.value()),
            other => Err(syn::Error::new(other.span(), "expected a string literal")),
        })
        .collect()
}

fn parse_attrs(attrs: &[syn::Attribute]) -> syn::Result<FieldAttrs> {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("arg")) {
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            match key.as_str() {
                "no_log" => out.no_log = true,
                "required" => out.required = true,
                "flatten" => out.flatten = true,
                "default" => out.default = Some(lit_to_json(&meta.value()?.parse::<Expr>()?)?),
                "aliases" => out.aliases = string_list(&meta.value()?.parse::<Expr>()?)?,
                "env" => out.env = string_list(&meta.value()?.parse::<Expr>()?)?,
                "choices" => out.choices = string_list(&meta.value()?.parse::<Expr>()?)?,
                "type" => out.arg_type = Some(meta.value()?.parse::<LitStr>()?.value()),
                "elements" => out.elements = Some(meta.value()?.parse::<LitStr>()?.value()),
                "unused" => out.unused = Some(meta.value()?.parse::<LitStr>()?.value()),
                _ => return Err(meta.error(format!("unknown #[arg] key `{key}`"))),
            }
            Ok(())
        })?;
    }
    Ok(out)
}
