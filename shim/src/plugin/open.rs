//! Opening a plugin file and checking its root, before any plugin code runs.
//!
//! The checks, in order (`spec/PLUGIN-ABI.md`, "Loading"):
//! 0. the path names a regular file (checked with `stat` before anything
//!    opens it: opening a FIFO blocks until a writer comes, and opening a
//!    device can have effects of its own), and the file is a whole ELF
//!    shared object for this machine: its headers
//!    and every loadable segment lie inside the file (a truncated library
//!    would otherwise be mapped past its end, and touching that memory
//!    kills the process with SIGBUS);
//! 1. the file opens as a shared library;
//! 2. it exports `OXBIND_PLUGIN_ROOT`;
//! 3. the root starts with the magic bytes and has a known root version;
//! 4. its abi_stable header is compatible with ours;
//! 5. its `oxbind-abi` version is on our compatibility line and not newer;
//! 6. the layout of its `PluginModule_Ref` matches ours, with its (older or
//!    equal) layout as the interface.
//!
//! [`open_detached`] runs them for the shim's Python-facing callers: detached
//! from the interpreter, with a failure raised as ImportError.
//!
//! A plugin is never unloaded: it is opened with `RTLD_NODELETE` and its
//! handle is leaked, so every pointer into it stays valid for the process.
//!
//! Every path or name a loader message shows goes through [`brief`], so a
//! message stays short whatever the caller passed.

// Opening a file is `oxbind.load`'s; a plugin built as its own module only
// checks its root ([`check_root`]).
#![cfg_attr(not(feature = "extension-module"), allow(dead_code))]

use std::{
    ffi::OsStr,
    fmt,
    fs::{File, Metadata},
    os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use oxbind_abi::{
    abi_stable::{
        abi_stability::abi_checking::check_layout_compatibility, library::AbiHeader, StableAbi,
    },
    root::{MAGIC, ROOT_VERSION},
    PluginModule_Ref, PluginRoot, ABI_VERSION, ROOT_SYMBOL,
};

/// Why a file is not a loadable plugin. Becomes an `ImportError`.
#[derive(Debug)]
pub enum LoadError {
    /// The path names something other than a regular file: what it is.
    NotARegularFile(&'static str),
    NotALibrary(String),
    NoRoot,
    BadMagic,
    UnknownRootVersion(u32),
    AbiStableMismatch {
        theirs: (u32, u32),
        ours: (u32, u32),
    },
    IncompatibleVersion {
        theirs: [u32; 3],
    },
    NewerVersion {
        theirs: [u32; 3],
    },
    LayoutMismatch(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ma, mi, pa) = ABI_VERSION;
        match self {
            LoadError::NotARegularFile(what) => write!(
                f,
                "not a loadable shared library: it is {what}, and a plugin must be a regular file"
            ),
            LoadError::NotALibrary(why) => write!(f, "not a loadable shared library ({why})"),
            LoadError::NoRoot => write!(f, "not an oxbind plugin: it does not export the symbol {ROOT_SYMBOL}"),
            LoadError::BadMagic => write!(f, "not an oxbind plugin: {ROOT_SYMBOL} does not start with the oxbind magic bytes"),
            LoadError::UnknownRootVersion(v) => {
                write!(f, "plugin root version {v} is not supported; this oxbind reads root version {ROOT_VERSION}")
            }
            LoadError::AbiStableMismatch { theirs, ours } => write!(
                f,
                "plugin was built with abi_stable ABI {}.{}, expected {}.{}",
                theirs.0, theirs.1, ours.0, ours.1
            ),
            LoadError::IncompatibleVersion { theirs: [a, b, c] } => write!(
                f,
                "plugin was built with oxbind ABI {a}.{b}.{c}, which is incompatible with this oxbind's ABI {ma}.{mi}.{pa}; rebuild the plugin against a compatible oxbind"
            ),
            LoadError::NewerVersion { theirs: [a, b, c] } => write!(
                f,
                "plugin was built with oxbind ABI {a}.{b}.{c}, newer than this oxbind's ABI {ma}.{mi}.{pa}; upgrade oxbind"
            ),
            LoadError::LayoutMismatch(detail) => write!(f, "plugin module layout does not match this oxbind's: {detail}"),
        }
    }
}

/// A plugin whose root passed every check.
pub struct CheckedPlugin {
    pub path: PathBuf,
    pub root: &'static PluginRoot,
}

/// Opens `path` and checks its root. Runs no plugin code beyond what the
/// dynamic loader itself runs.
pub fn open(path: &Path) -> Result<CheckedPlugin, LoadError> {
    // Regular file first: nothing is opened before `stat` says what the path is.
    let before = std::fs::metadata(path).map_err(|e| LoadError::NotALibrary(e.to_string()))?;
    regular_file(&before)?;
    // Second line of defence, for a path swapped after the `stat`: a FIFO
    // opened non-blocking does not wait for a writer, a terminal does not
    // become the controlling one, and `fstat` on the descriptor says what
    // was really opened.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| LoadError::NotALibrary(e.to_string()))?;
    let opened = file
        .metadata()
        .map_err(|e| LoadError::NotALibrary(e.to_string()))?;
    regular_file(&opened)?;
    if !same_file(&before, &opened) {
        return Err(LoadError::NotALibrary(
            "the file was replaced while it was being checked".into(),
        ));
    }
    check_elf(file, opened.len()).map_err(LoadError::NotALibrary)?;
    // `dlopen` opens the path again. Narrow the window in which it could be
    // swapped for something that blocks: it must still be the file checked.
    match std::fs::metadata(path) {
        Ok(now) if same_file(&now, &opened) && now.file_type().is_file() => {}
        _ => {
            return Err(LoadError::NotALibrary(
                "the file was replaced while it was being checked".into(),
            ))
        }
    }
    let flags =
        libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL | libc::RTLD_NODELETE;
    // SAFETY: opening a library runs its initialisers; oxbind plugins have
    // none of their own, and the user asked for this file to be loaded.
    let library = unsafe { libloading::os::unix::Library::open(Some(path), flags) }
        .map_err(|e| LoadError::NotALibrary(dlopen_reason(&e, path)))?;
    // SAFETY: we only take the symbol's address; it is read below as a
    // `PluginRoot` only after its magic bytes match.
    let root_ptr: *const PluginRoot = unsafe {
        match library.get::<*const PluginRoot>(ROOT_SYMBOL.as_bytes()) {
            Ok(sym) => *sym,
            Err(_) => return Err(LoadError::NoRoot),
        }
    };
    // Never unload: pointers into the library are handed out for good.
    std::mem::forget(library);
    if root_ptr.is_null() {
        return Err(LoadError::NoRoot);
    }
    // SAFETY: the symbol is at least as large as the magic if it is an oxbind
    // root; a foreign symbol of that name is in mapped memory, and reading
    // 16 bytes of it as plain bytes is harmless.
    let magic = unsafe { std::ptr::read_unaligned(root_ptr as *const [u8; 16]) };
    if magic != MAGIC {
        return Err(LoadError::BadMagic);
    }
    // SAFETY: the magic identifies an oxbind root, whose first fields
    // (magic, root_version) are frozen across all root versions.
    let root_version =
        unsafe { std::ptr::read_unaligned(std::ptr::addr_of!((*root_ptr).root_version)) };
    if root_version != ROOT_VERSION {
        return Err(LoadError::UnknownRootVersion(root_version));
    }
    // SAFETY: root version 1 has exactly the layout of `PluginRoot`.
    let root: &'static PluginRoot = unsafe { &*root_ptr };
    check_root(root)?;
    Ok(CheckedPlugin {
        path: path.to_owned(),
        root,
    })
}

/// The ELF machine of this build (`e_machine`).
#[cfg(target_arch = "x86_64")]
const ELF_MACHINE: u16 = 62;
#[cfg(target_arch = "aarch64")]
const ELF_MACHINE: u16 = 183;

/// Refuses anything but a regular file, saying what it is.
fn regular_file(meta: &Metadata) -> Result<(), LoadError> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a file of an unknown kind"
    };
    Err(LoadError::NotARegularFile(what))
}

/// Whether two `stat` results describe the same file.
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// The reason a `dlopen` failed: the dynamic loader's own message
/// (`dlerror`, which libloading keeps as the error's source), without the
/// path it starts with (the caller's message gives the path).
fn dlopen_reason(error: &libloading::Error, path: &Path) -> String {
    let mut innermost: &dyn std::error::Error = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    let text = innermost.to_string();
    let prefix = format!("{}: ", path.display());
    let reason = text.strip_prefix(prefix.as_str()).unwrap_or(&text);
    format!("dlopen: {}", shorten(reason, DETAIL_CHARS))
}

/// Check 0: reads the ELF header and program headers of `file` (a regular
/// file of `len` bytes) and checks that it is a 64-bit little-endian shared
/// object for this machine whose loadable segments all lie inside the file.
/// Reads the file only; maps and runs nothing.
fn check_elf(mut file: File, len: u64) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut header = [0u8; 64];
    file.read_exact(&mut header)
        .map_err(|_| format!("{len} bytes: too short for an ELF header"))?;
    if &header[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if header[4] != 2 || header[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    if u16_at(&header, 16) != 3 {
        return Err("an ELF file, but not a shared object".into());
    }
    let machine = u16_at(&header, 18);
    if machine != ELF_MACHINE {
        return Err(format!(
            "an ELF shared object for machine {machine}, not this machine ({ELF_MACHINE})"
        ));
    }
    let (phoff, phentsize, phnum) = (
        u64_at(&header, 32),
        u16_at(&header, 54),
        u16_at(&header, 56),
    );
    if phentsize < 56 || phnum == 0 {
        return Err("an ELF shared object without program headers".into());
    }
    if phoff
        .checked_add(phentsize as u64 * phnum as u64)
        .is_none_or(|end| end > len)
    {
        return Err(format!(
            "truncated: its program headers end past the file's {len} bytes"
        ));
    }
    let mut headers = vec![0u8; phentsize as usize * phnum as usize];
    file.seek(SeekFrom::Start(phoff))
        .map_err(|e| e.to_string())?;
    file.read_exact(&mut headers).map_err(|e| e.to_string())?;
    for ph in headers.chunks_exact(phentsize as usize) {
        const PT_LOAD: u32 = 1;
        const PT_DYNAMIC: u32 = 2;
        let kind = u32_at(ph, 0);
        if kind != PT_LOAD && kind != PT_DYNAMIC {
            continue;
        }
        let (offset, filesz) = (u64_at(ph, 8), u64_at(ph, 32));
        if offset.checked_add(filesz).is_none_or(|end| end > len) {
            return Err(format!(
                "truncated: a segment ends at byte {}, past the file's {len} bytes",
                offset.saturating_add(filesz)
            ));
        }
    }
    Ok(())
}

/// Checks 4 to 6 on a root whose magic and root version are known good.
pub fn check_root(root: &'static PluginRoot) -> Result<(), LoadError> {
    let ours = AbiHeader::VALUE;
    if !root.abi_header.is_compatible(&ours) {
        return Err(LoadError::AbiStableMismatch {
            theirs: (root.abi_header.abi_major, root.abi_header.abi_minor),
            ours: (ours.abi_major, ours.abi_minor),
        });
    }
    let theirs = root.abi_version;
    let ours_v = [ABI_VERSION.0, ABI_VERSION.1, ABI_VERSION.2];
    if compatibility_line(theirs) != compatibility_line(ours_v) {
        return Err(LoadError::IncompatibleVersion { theirs });
    }
    if theirs > ours_v {
        return Err(LoadError::NewerVersion { theirs });
    }
    // The plugin is older or equal, so its layout is the interface.
    check_layout_compatibility(root.module_layout, <PluginModule_Ref as StableAbi>::LAYOUT)
        .map_err(|e| LoadError::LayoutMismatch(crate::compat::summarize(&e.to_string())))?;
    Ok(())
}

/// Cargo's compatibility line: the major version, or `0.minor` below 1.0.
pub fn compatibility_line(v: [u32; 3]) -> (u32, u32) {
    if v[0] == 0 {
        (0, v[1])
    } else {
        (v[0], 0)
    }
}

/// The most characters of a path or name a message shows ([`brief`]).
pub const PATH_CHARS: usize = 200;
/// The most characters of a reason from elsewhere (the dynamic loader, a
/// descriptor check) a message shows.
pub const DETAIL_CHARS: usize = 1000;

/// `text` as a message shows a path or a name: itself when it has at most
/// [`PATH_CHARS`] characters, else its start and its end around "…", in
/// [`PATH_CHARS`] characters. Every path and name in a loader message goes
/// through here.
pub fn brief(text: impl AsRef<OsStr>) -> String {
    shorten(text, PATH_CHARS)
}

/// `text` (lossily decoded) in at most `max` characters: its start and end
/// around "…" when it is longer. The one shortening rule of the loader's
/// messages; [`brief`] is it with [`PATH_CHARS`].
pub fn shorten(text: impl AsRef<OsStr>, max: usize) -> String {
    let text = text.as_ref().to_string_lossy();
    let count = text.chars().count();
    if count <= max {
        return text.into_owned();
    }
    let keep = max.saturating_sub(1);
    let head = keep - keep / 2;
    let tail = keep / 2;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(count - tail));
    out
}

/// [`open`], detached from the interpreter (it runs no Python code), with a
/// failure raised as `ImportError("<failure> <path>: <why>")`.
///
/// # Safety
/// The thread is attached.
pub unsafe fn open_detached(path: &Path, failure: &str) -> Result<CheckedPlugin, ()> {
    // Detached through the exit gate (`crate::sync::detach`): a daemon thread
    // loading while the interpreter exits is parked, not ended mid-shim.
    // SAFETY: the thread is attached (this function's contract), and `open`
    // touches no Python object and calls no C API.
    let opened =
        unsafe { crate::sync::detach::detached(|| std::panic::catch_unwind(|| open(path))) };
    let why = match opened {
        Ok(Ok(checked)) => return Ok(checked),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "the ABI checks failed unexpectedly".to_owned(),
    };
    // SAFETY: attached again (`detached` re-attached), all `import_error`
    // needs.
    unsafe {
        crate::py::errors::import_error(&format!("{failure} {}: {why}", brief(path)), Some(path))
    };
    Err(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_lines_follow_cargo() {
        assert_eq!(compatibility_line([0, 1, 7]), compatibility_line([0, 1, 0]));
        assert_ne!(compatibility_line([0, 1, 0]), compatibility_line([0, 2, 0]));
        assert_eq!(compatibility_line([1, 4, 0]), compatibility_line([1, 0, 3]));
        assert_ne!(compatibility_line([1, 0, 0]), compatibility_line([2, 0, 0]));
    }

    #[test]
    fn brief_keeps_short_text_and_bounds_long_text() {
        assert_eq!(brief("/tmp/libhello.so"), "/tmp/libhello.so");
        let exact = "x".repeat(PATH_CHARS);
        assert_eq!(brief(&exact), exact);
        let long = format!("/{}/libhello.so", "a".repeat(100_000));
        let short = brief(&long);
        assert_eq!(short.chars().count(), PATH_CHARS);
        assert!(short.starts_with("/aaa") && short.ends_with("aaa/libhello.so"));
        assert_eq!(short.matches('…').count(), 1);
        // Multi-byte characters are cut on character boundaries.
        let wide = "é".repeat(1000);
        assert_eq!(brief(&wide).chars().count(), PATH_CHARS);
        assert_eq!(shorten("abcdef", 3), "a…f");
    }

    #[test]
    fn special_files_are_refused_before_they_are_opened() {
        for (path, what) in [("/dev/null", "a character device"), ("/", "a directory")] {
            match open(Path::new(path)) {
                Err(LoadError::NotARegularFile(w)) => assert_eq!(w, what),
                Err(other) => panic!("{path}: {other}"),
                Ok(_) => panic!("{path} loaded"),
            }
        }
    }
}
