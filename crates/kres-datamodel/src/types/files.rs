//! File-system paths. Relative paths are resolved against the directory of the first configuration file.
//! In strict mode the manager checks that they exist and are accessible; otherwise they are only resolved.

use std::marker::PhantomData;
use std::path::{Path as FsPath, PathBuf};

use rustix::fs::Access;
use serde_json::json;

use super::text::{Layout, control_char_problem, shown};
use crate::model::{Ctx, FromNode, strict_text};
use crate::node::Node;
use crate::path::Path;

/// What a path must be (checked only in strict mode).
pub trait PathKind {
    /// Checks the resolved path; returns a problem description.
    fn check(path: &FsPath) -> Result<(), String>;
    /// Whether the path must be written absolute.
    const ABSOLUTE: bool = false;
}

/// A path to a file or directory; `K` says what it must be.
pub struct TypedPath<K> {
    text: String,
    resolved: PathBuf,
    kind: PhantomData<K>,
}

impl<K> TypedPath<K> {
    /// A path known at build time (defaults); relative paths stay relative.
    pub fn from_static(text: &'static str) -> Self {
        TypedPath { text: text.into(), resolved: PathBuf::from(text), kind: PhantomData }
    }
    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// The absolute path (resolved against the configuration's directory).
    pub fn path(&self) -> &FsPath {
        &self.resolved
    }
    /// The absolute path as text (lossy for non-UTF-8 names, which cannot come from a YAML/JSON document anyway).
    pub fn display(&self) -> String {
        self.resolved.to_string_lossy().into_owned()
    }
}

impl<K> Clone for TypedPath<K> {
    fn clone(&self) -> Self {
        TypedPath { text: self.text.clone(), resolved: self.resolved.clone(), kind: PhantomData }
    }
}
impl<K> PartialEq for TypedPath<K> {
    fn eq(&self, other: &Self) -> bool {
        self.resolved == other.resolved
    }
}
impl<K> Eq for TypedPath<K> {}
impl<K> std::fmt::Debug for TypedPath<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.resolved)
    }
}
impl<K> std::fmt::Display for TypedPath<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}
impl<K> serde::Serialize for TypedPath<K> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<K: PathKind> FromNode for TypedPath<K> {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        let text = strict_text(node, cx, path)?;
        if text.is_empty() {
            cx.error(path, Some(node), "the path is empty");
            return None;
        }
        if let Some(problem) = control_char_problem(text, Layout::SingleLine) {
            cx.error(path, Some(node), format!("'{}': {problem}", shown(text)));
            return None;
        }
        let written = FsPath::new(text);
        if K::ABSOLUTE && !written.is_absolute() {
            cx.error(path, Some(node), format!("'{text}' must be an absolute path"));
            return None;
        }
        let resolved = if written.is_absolute() { written.to_path_buf() } else { cx.opts.resolve_root.join(written) };
        if cx.opts.strict
            && let Err(e) = K::check(&resolved)
        {
            cx.error(path, Some(node), format!("'{}': {e}", resolved.display()));
            return None;
        }
        Some(TypedPath { text: text.to_owned(), resolved, kind: PhantomData })
    }
    fn schema() -> serde_json::Value {
        json!({"type": "string"})
    }
}

fn access(path: &FsPath, mode: Access, what: &str) -> Result<(), String> {
    rustix::fs::access(path, mode).map_err(|e| format!("not {what} by this user ({e})"))
}

fn is_dir(path: &FsPath) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err("is not a directory".into()),
        Err(e) => Err(format!("directory does not exist or cannot be read ({e})")),
    }
}

fn is_file(path: &FsPath) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err("is not a regular file".into()),
        Err(e) => Err(format!("file does not exist or cannot be read ({e})")),
    }
}

fn file_path(path: &FsPath) -> Result<(), String> {
    if path.is_dir() {
        return Err("is a directory, a file path is expected".into());
    }
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() || p.is_dir() => Ok(()),
        _ => Err("the parent directory does not exist".into()),
    }
}

/// No checks.
pub struct Unchecked;
impl PathKind for Unchecked {
    fn check(_: &FsPath) -> Result<(), String> {
        Ok(())
    }
}

/// An existing directory.
pub struct DirKind;
impl PathKind for DirKind {
    fn check(path: &FsPath) -> Result<(), String> {
        is_dir(path)
    }
}

/// An existing directory written as an absolute path.
pub struct AbsoluteDirKind;
impl PathKind for AbsoluteDirKind {
    const ABSOLUTE: bool = true;
    fn check(path: &FsPath) -> Result<(), String> {
        is_dir(path)
    }
}

/// An existing directory the resolver can write into.
pub struct WritableDirKind;
impl PathKind for WritableDirKind {
    fn check(path: &FsPath) -> Result<(), String> {
        is_dir(path)?;
        access(path, Access::WRITE_OK | Access::EXEC_OK, "writable")
    }
}

/// An existing regular file.
pub struct FileKind;
impl PathKind for FileKind {
    fn check(path: &FsPath) -> Result<(), String> {
        is_file(path)
    }
}

/// An existing regular file the resolver can read.
pub struct ReadableFileKind;
impl PathKind for ReadableFileKind {
    fn check(path: &FsPath) -> Result<(), String> {
        is_file(path)?;
        access(path, Access::READ_OK, "readable")
    }
}

/// A file that may not exist yet, in an existing directory.
pub struct FilePathKind;
impl PathKind for FilePathKind {
    fn check(path: &FsPath) -> Result<(), String> {
        file_path(path)
    }
}

/// A file the resolver can create or write.
pub struct WritableFilePathKind;
impl PathKind for WritableFilePathKind {
    fn check(path: &FsPath) -> Result<(), String> {
        file_path(path)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            access(parent, Access::WRITE_OK | Access::EXEC_OK, "writable")?;
        }
        if path.exists() {
            access(path, Access::WRITE_OK, "writable")?;
        }
        Ok(())
    }
}

pub type UncheckedPath = TypedPath<Unchecked>;
pub type Dir = TypedPath<DirKind>;
pub type AbsoluteDir = TypedPath<AbsoluteDirKind>;
pub type WritableDir = TypedPath<WritableDirKind>;
pub type File = TypedPath<FileKind>;
pub type ReadableFile = TypedPath<ReadableFileKind>;
pub type FilePath = TypedPath<FilePathKind>;
pub type WritableFilePath = TypedPath<WritableFilePathKind>;
