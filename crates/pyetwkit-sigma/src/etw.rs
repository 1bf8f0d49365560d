//! ETW events as Sigma sees them: the category (logsource) an event belongs
//! to, and its fields under Sysmon's names. The table is documented in
//! `docs/sigma.md` and its rows are `MAPPINGS` below: the one definition.
//!
//! The mapper keeps a little state as events pass, all of it bounded: the
//! trace's volume names (`\Device\HarddiskVolume3` → `C:`) and, per pid, the
//! process's image path and command line, for `Image`, `ParentImage` and
//! `ParentCommandLine`.

use std::collections::VecDeque;
use std::net::IpAddr;

use pyetwkit_core::{EtwEvent, FastMap, Guid, Value};

use crate::fields::{FieldValue, Fields};

/// One row of the mapping table: an event (kernel class and opcodes, or
/// provider and event ids) and the Sigma categories it feeds.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    pub source: Source,
    pub categories: &'static [&'static str],
    /// The Sigma fields filled, for the documentation's table.
    pub fields: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Kernel {
        class: &'static str,
        opcodes: &'static [u8],
    },
    Provider {
        name: &'static str,
        guid: Guid,
        ids: &'static [u16],
    },
}

impl std::fmt::Display for Source {
    /// How the mapping table names the event: `kernel Process, opcode 1`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |numbers: &mut dyn Iterator<Item = u16>| {
            numbers
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Source::Kernel { class, opcodes } => {
                let opcodes = list(&mut opcodes.iter().map(|&o| u16::from(o)));
                write!(f, "kernel {class}, opcode {opcodes}")
            }
            Source::Provider { name, guid, ids } => {
                write!(
                    f,
                    "{name} ({guid}), event {}",
                    list(&mut ids.iter().copied())
                )
            }
        }
    }
}

const fn guid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
    Guid::from_fields(d1, d2, d3, d4)
}

pub const KERNEL_PROCESS: Guid = guid(
    0x22fb2cd6,
    0x0e7b,
    0x422b,
    [0xa0, 0xc7, 0x2f, 0xad, 0x1f, 0xd0, 0xe7, 0x16],
);
pub const KERNEL_FILE: Guid = guid(
    0xedd08927,
    0x9cc4,
    0x4e65,
    [0xb9, 0x70, 0xc2, 0x56, 0x0f, 0xb5, 0xc2, 0x89],
);
pub const KERNEL_REGISTRY: Guid = guid(
    0x70eb4f03,
    0xc1de,
    0x4f73,
    [0xa0, 0x51, 0x33, 0xd1, 0x3d, 0x54, 0x13, 0xbd],
);
pub const KERNEL_NETWORK: Guid = guid(
    0x7dd42a49,
    0x5329,
    0x4832,
    [0x8d, 0xfd, 0x43, 0xd9, 0x79, 0x15, 0x3a, 0x88],
);
pub const DNS_CLIENT: Guid = guid(
    0x1c95126e,
    0x7eea,
    0x49a9,
    [0xa3, 0xfe, 0xa3, 0x78, 0xb0, 0x3d, 0xdb, 0x4d],
);
pub const POWERSHELL: Guid = guid(
    0xa0c1853b,
    0x5c40,
    0x4b15,
    [0x87, 0x66, 0x3c, 0xf1, 0xc5, 0x8f, 0x98, 0x5a],
);
pub const POWERSHELL_CORE: Guid = guid(
    0xf90714a8,
    0x5509,
    0x434a,
    [0xbf, 0x6d, 0xb1, 0x62, 0x4c, 0x8a, 0x19, 0xa2],
);
/// KernelTraceControl's system configuration records (TraceEvent's "SysConfig"),
/// which merged traces carry; opcode 35 maps an NT volume to a DOS path.
pub const SYS_CONFIG: Guid = guid(
    0x9b79ee91,
    0xb5fd,
    0x41c0,
    [0xa2, 0x43, 0x42, 0x48, 0xe2, 0x66, 0xe9, 0xd0],
);
const VOLUME_MAPPING_OPCODE: u8 = 35;

const PROCESS_FIELDS: &str = "Image, CommandLine, ProcessId, ParentProcessId, ParentImage, ParentCommandLine, User, IntegrityLevel";
const REGISTRY_FIELDS: &str = "TargetObject, EventType, Details, Image, ProcessId";

/// The mapping table.
pub const MAPPINGS: &[Mapping] = &[
    Mapping { source: Source::Kernel { class: "Process", opcodes: &[1] }, categories: &["process_creation"], fields: PROCESS_FIELDS },
    Mapping { source: Source::Provider { name: "Microsoft-Windows-Kernel-Process", guid: KERNEL_PROCESS, ids: &[1] }, categories: &["process_creation"], fields: PROCESS_FIELDS },
    Mapping { source: Source::Kernel { class: "Image", opcodes: &[10] }, categories: &["image_load"], fields: "ImageLoaded, Image, ProcessId" },
    Mapping { source: Source::Provider { name: "Microsoft-Windows-Kernel-Process", guid: KERNEL_PROCESS, ids: &[5] }, categories: &["image_load"], fields: "ImageLoaded, Image, ProcessId" },
    Mapping { source: Source::Kernel { class: "FileIo", opcodes: &[64] }, categories: &["file_event"], fields: "TargetFilename, Image, ProcessId (creating dispositions only)" },
    Mapping { source: Source::Provider { name: "Microsoft-Windows-Kernel-File", guid: KERNEL_FILE, ids: &[12, 30] }, categories: &["file_event"], fields: "TargetFilename, Image, ProcessId (12: creating dispositions only)" },
    Mapping { source: Source::Provider { name: "Microsoft-Windows-Kernel-File", guid: KERNEL_FILE, ids: &[26] }, categories: &["file_delete"], fields: "TargetFilename, Image, ProcessId" },
    Mapping { source: Source::Kernel { class: "Registry", opcodes: &[10] }, categories: &["registry_add", "registry_event"], fields: REGISTRY_FIELDS },
    Mapping { source: Source::Kernel { class: "Registry", opcodes: &[14] }, categories: &["registry_set", "registry_event"], fields: REGISTRY_FIELDS },
    Mapping { source: Source::Kernel { class: "Registry", opcodes: &[12, 15] }, categories: &["registry_delete", "registry_event"], fields: REGISTRY_FIELDS },
    Mapping { source: Source::Provider { name: "Microsoft-Windows-Kernel-Registry", guid: KERNEL_REGISTRY, ids: &[1] }, categories: &["registry_add", "registry_event"], fields: REGISTRY_FIELDS },
    Mapping { source: Source::Provider { name: "Microsoft-Windows-Kernel-Registry", guid: KERNEL_REGISTRY, ids: &[5] }, categories: &["registry_set", "registry_event"], fields: REGISTRY_FIELDS },
    Mapping { source: Source::Provider { name: "Microsoft-Windows-Kernel-Registry", guid: KERNEL_REGISTRY, ids: &[3, 6] }, categories: &["registry_delete", "registry_event"], fields: REGISTRY_FIELDS },
    Mapping { source: Source::Kernel { class: "TcpIp", opcodes: &[12, 15, 28, 31] }, categories: &["network_connection"], fields: "Initiated, SourceIp, SourcePort, DestinationIp, DestinationPort, Protocol, SourceIsIpv6, DestinationIsIpv6, Image, ProcessId" },
    Mapping { source: Source::Provider { name: "Microsoft-Windows-Kernel-Network", guid: KERNEL_NETWORK, ids: &[12, 15, 28, 31] }, categories: &["network_connection"], fields: "Initiated, SourceIp, SourcePort, DestinationIp, DestinationPort, Protocol, SourceIsIpv6, DestinationIsIpv6, Image, ProcessId" },
    Mapping { source: Source::Provider { name: "Microsoft-Windows-DNS-Client", guid: DNS_CLIENT, ids: &[3008] }, categories: &["dns_query"], fields: "QueryName, QueryStatus, QueryResults, Image, ProcessId" },
    Mapping { source: Source::Provider { name: "Microsoft-Windows-PowerShell", guid: POWERSHELL, ids: &[4104] }, categories: &["ps_script"], fields: "ScriptBlockText, ScriptBlockId, Path, MessageNumber, MessageTotal" },
    Mapping { source: Source::Provider { name: "PowerShellCore", guid: POWERSHELL_CORE, ids: &[4104] }, categories: &["ps_script"], fields: "ScriptBlockText, ScriptBlockId, Path, MessageNumber, MessageTotal" },
    Mapping { source: Source::Provider { name: "Microsoft-Windows-PowerShell", guid: POWERSHELL, ids: &[4103] }, categories: &["ps_module"], fields: "ContextInfo, UserData, Payload" },
    Mapping { source: Source::Provider { name: "PowerShellCore", guid: POWERSHELL_CORE, ids: &[4103] }, categories: &["ps_module"], fields: "ContextInfo, UserData, Payload" },
];

/// The table's row for `event`, if any (header fields only: cheap).
pub fn mapping_of(event: &EtwEvent) -> Option<&'static Mapping> {
    MAPPINGS.iter().find(|m| match m.source {
        Source::Kernel { class, opcodes } => {
            event.kernel_class.is_some_and(|c| c.name == class) && opcodes.contains(&event.opcode)
        }
        Source::Provider { guid, ids, .. } => {
            event.kernel_class.is_none()
                && event.provider_id == guid
                && ids.contains(&event.event_id)
        }
    })
}

/// A field's value in a mapped event.
#[derive(Debug, Clone, PartialEq)]
pub enum Owned {
    Str(String),
    UInt(u64),
}

/// An ETW event under Sigma's names, and the categories it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedEvent {
    pub categories: &'static [&'static str],
    pub fields: Vec<(&'static str, Owned)>,
}

impl MappedEvent {
    fn set(&mut self, name: &'static str, value: Option<Owned>) {
        if let Some(v) = value {
            self.fields.push((name, v));
        }
    }

    pub fn get_text(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| match v {
                Owned::Str(s) => Some(s.as_str()),
                Owned::UInt(_) => None,
            })
    }
}

impl Fields for MappedEvent {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| owned_value(v))
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&str, FieldValue<'_>)) {
        for (k, v) in &self.fields {
            f(k, owned_value(v));
        }
    }
}

fn owned_value(v: &Owned) -> FieldValue<'_> {
    match v {
        Owned::Str(s) => FieldValue::Str(s),
        Owned::UInt(u) => FieldValue::UInt(*u),
    }
}

/// What the mapper remembers of a process.
#[derive(Debug, Clone, Default)]
struct Process {
    image: Option<String>,
    command_line: Option<String>,
}

/// Processes remembered at most (oldest forgotten first): a long live session
/// stays bounded.
const MAX_PROCESSES: usize = 65_536;

/// Maps ETW events to Sigma fields, learning volumes and processes as they pass.
#[derive(Debug, Default)]
pub struct EtwMapper {
    /// NT prefix (lowercase, with a trailing `\`) → DOS prefix.
    volumes: Vec<(String, String)>,
    processes: FastMap<u32, Process>,
    order: VecDeque<u32>,
}

impl EtwMapper {
    /// Learns what `event` says of volumes and processes, then maps it.
    pub fn map(&mut self, event: &EtwEvent) -> Option<MappedEvent> {
        if event.kernel_class.is_none()
            && event.provider_id == SYS_CONFIG
            && event.opcode == VOLUME_MAPPING_OPCODE
        {
            self.learn_volume(event.user_data.as_slice());
            return None;
        }
        let is_rundown = event.kernel_class.is_some_and(|c| c.name == "Process")
            && matches!(event.opcode, 3 | 4);
        if is_rundown {
            // Rundown is no creation, but names the processes already running.
            if let Some(decoded) = event.decode() {
                let props = Props(&decoded.properties);
                let mut ignored = MappedEvent {
                    categories: &[],
                    fields: Vec::new(),
                };
                self.process_creation(event, &props, &mut ignored);
            }
            return None;
        }
        let image_rundown =
            event.kernel_class.is_some_and(|c| c.name == "Image") && matches!(event.opcode, 3 | 4);
        if image_rundown {
            // Loaded before the trace began: the process's own image still
            // teaches its path and the volume's letter.
            if let Some(decoded) = event.decode() {
                let props = Props(&decoded.properties);
                let pid = props.uint(&["ProcessId"]).map(|p| p as u32).or(event.pid);
                if let (Some(pid), Some(raw)) = (pid, props.text(&["FileName"])) {
                    self.learn_image(pid, &raw);
                }
            }
            return None;
        }
        mapping_of(event)?;
        let decoded = event.decode()?;
        self.map_decoded(event, &decoded.properties)
    }

    /// Maps `event` whose payload decoded to `properties` (what `map` does
    /// after decoding; separate so the mapping is testable on its own).
    pub fn map_decoded(
        &mut self,
        event: &EtwEvent,
        properties: &[(pyetwkit_core::Name, Value)],
    ) -> Option<MappedEvent> {
        let mapping = mapping_of(event)?;
        let props = Props(properties);
        let mut out = MappedEvent {
            categories: mapping.categories,
            fields: Vec::new(),
        };
        let category = mapping.categories[0];
        match category {
            "process_creation" => self.process_creation(event, &props, &mut out),
            "image_load" => {
                let pid = props
                    .uint(&["ProcessId", "ProcessID"])
                    .map(|p| p as u32)
                    .or(event.pid);
                let raw = props.text(&["FileName", "ImageName"]);
                if let (Some(pid), Some(raw)) = (pid, &raw) {
                    self.learn_image(pid, raw);
                }
                let loaded = raw.map(|p| self.dos_path(&p));
                out.set("ImageLoaded", loaded.map(Owned::Str));
                self.set_process(&mut out, pid, event);
            }
            "file_event" | "file_delete" => {
                if category == "file_event" && !creates(event, &props) {
                    return None;
                }
                let path = props.text(&["OpenPath", "FileName", "FilePath"])?;
                out.set("TargetFilename", Some(Owned::Str(self.dos_path(&path))));
                self.set_process(&mut out, event.pid, event);
            }
            "registry_add" | "registry_set" | "registry_delete" => {
                registry(event, &props, &mut out)?;
                self.set_process(&mut out, event.pid, event);
            }
            "network_connection" => {
                network(event, &props, &mut out)?;
                let pid = props.uint(&["PID"]).map(|p| p as u32).or(event.pid);
                self.set_process(&mut out, pid, event);
            }
            "dns_query" => {
                out.set("QueryName", props.text(&["QueryName"]).map(Owned::Str));
                out.set(
                    "QueryStatus",
                    props.text(&["QueryStatus", "Status"]).map(Owned::Str),
                );
                out.set(
                    "QueryResults",
                    props.text(&["QueryResults"]).map(Owned::Str),
                );
                self.set_process(&mut out, event.pid, event);
            }
            "ps_script" => {
                for name in [
                    "ScriptBlockText",
                    "ScriptBlockId",
                    "Path",
                    "MessageNumber",
                    "MessageTotal",
                ] {
                    out.set(name, props.text(&[name]).map(Owned::Str));
                }
            }
            _ => {
                for name in ["ContextInfo", "UserData", "Payload"] {
                    out.set(name, props.text(&[name]).map(Owned::Str));
                }
            }
        }
        Some(out)
    }

    fn process_creation(&mut self, event: &EtwEvent, props: &Props<'_>, out: &mut MappedEvent) {
        let pid = props.uint(&["ProcessId", "ProcessID"]).map(|p| p as u32);
        let parent = props
            .uint(&["ParentId", "ParentProcessID"])
            .map(|p| p as u32)
            .or(event.pid);
        let command_line = props.text(&["CommandLine"]).or_else(|| {
            pid.and_then(|p| self.processes.get(&p))
                .and_then(|p| p.command_line.clone())
        });
        let image = match props.text(&["ImageName"]) {
            // Kernel-Process gives the full NT path.
            Some(path) => Some(self.dos_path(&path)),
            None => props.text(&["ImageFileName"]).map(|name| {
                image_from_command_line(&name, command_line.as_deref())
                    .map(|p| self.dos_path(&p))
                    .unwrap_or(name)
            }),
        };
        if let Some(pid) = pid {
            let known = self.remember(pid);
            if image.as_ref().is_some_and(|i| i.contains('\\')) || known.image.is_none() {
                known.image = image.clone();
            }
            if command_line.is_some() {
                known.command_line = command_line.clone();
            }
        }
        out.set("Image", image.filter(|i| is_path(i)).map(Owned::Str));
        out.set("CommandLine", command_line.map(Owned::Str));
        out.set("ProcessId", pid.map(|p| Owned::UInt(p.into())));
        out.set("ParentProcessId", parent.map(|p| Owned::UInt(p.into())));
        // The parent: what this mapper saw of it, else the creator's context
        // (the header of a start event names the creating process).
        let seen = parent
            .and_then(|p| self.processes.get(&p))
            .cloned()
            .unwrap_or_default();
        let creator = event.process.as_deref().filter(|_| event.pid == parent);
        let parent_cmd = seen
            .command_line
            .or_else(|| creator.and_then(|c| c.command_line.clone()));
        let parent_image = seen.image.or_else(|| {
            creator.map(|c| {
                image_from_command_line(&c.image_name, c.command_line.as_deref())
                    .map(|p| self.dos_path(&p))
                    .unwrap_or_else(|| c.image_name.clone())
            })
        });
        out.set(
            "ParentImage",
            parent_image.filter(|i| is_path(i)).map(Owned::Str),
        );
        out.set("ParentCommandLine", parent_cmd.map(Owned::Str));
        out.set(
            "User",
            props.sid(&["UserSID"]).map(|s| Owned::Str(user_name(&s))),
        );
        out.set(
            "IntegrityLevel",
            props
                .sid(&["MandatoryLabel"])
                .and_then(|s| integrity_level(&s))
                .map(|s| Owned::Str(s.into())),
        );
    }

    fn set_process(&mut self, out: &mut MappedEvent, pid: Option<u32>, event: &EtwEvent) {
        let Some(pid) = pid else { return };
        out.set("ProcessId", Some(Owned::UInt(pid.into())));
        let image = self
            .processes
            .get(&pid)
            .and_then(|p| p.image.clone())
            .or_else(|| {
                let ctx = event
                    .process
                    .as_deref()
                    .filter(|_| event.pid == Some(pid))?;
                Some(ctx.image_name.clone())
            });
        out.set("Image", image.filter(|i| is_path(i)).map(Owned::Str));
    }

    fn remember(&mut self, pid: u32) -> &mut Process {
        if !self.processes.contains_key(&pid) {
            if self.order.len() >= MAX_PROCESSES {
                if let Some(old) = self.order.pop_front() {
                    self.processes.remove(&old);
                }
            }
            self.order.push_back(pid);
        }
        self.processes.entry(pid).or_default()
    }

    /// An image loaded by `pid` that is its own executable gives its full path;
    /// and where the process's path is known from its command line
    /// (`C:\x\a.exe`), the loaded NT path (`\Device\HarddiskVolume3\x\a.exe`)
    /// names the volume's drive letter, for traces that do not say it.
    fn learn_image(&mut self, pid: u32, raw: &str) {
        let path = self.dos_path(raw);
        let Some(image) = self.processes.get(&pid).and_then(|p| p.image.clone()) else {
            return;
        };
        if !file_name(&path).eq_ignore_ascii_case(file_name(&image)) {
            return;
        }
        if !image.contains('\\') {
            if let Some(known) = self.processes.get_mut(&pid) {
                known.image = Some(path);
            }
            return;
        }
        let (lower_raw, lower_image) = (raw.to_ascii_lowercase(), image.to_ascii_lowercase());
        let is_dos = image.as_bytes().get(1..3) == Some(b":\\".as_slice());
        if path == raw && is_dos && lower_raw.starts_with(r"\device\") {
            let tail = &lower_image[2..];
            // Only a device of its own (`\Device\HarddiskVolume3`), not a share.
            if let Some(prefix) = lower_raw
                .strip_suffix(tail)
                .filter(|p| p.matches('\\').count() == 2)
            {
                self.add_volume(prefix, image[..2].to_string());
            }
        }
    }

    /// A VolumeMapping record: its NT prefix, then its DOS prefix.
    fn learn_volume(&mut self, user_data: &[u8]) {
        let mut strings = utf16_strings(user_data);
        if let (Some(nt), Some(dos)) = (strings.next(), strings.next()) {
            self.add_volume(&nt, dos);
        }
    }

    fn add_volume(&mut self, nt: &str, dos: String) {
        if nt.is_empty() || self.volumes.len() >= 256 {
            return;
        }
        let mut nt = nt.to_ascii_lowercase();
        if !nt.ends_with('\\') {
            nt.push('\\');
        }
        let mut dos = dos;
        if !dos.is_empty() && !dos.ends_with('\\') {
            dos.push('\\');
        }
        self.volumes.retain(|(k, _)| *k != nt);
        self.volumes.push((nt, dos));
        // Longest prefix first, so `\Device\HarddiskVolume10\` beats `...1\`.
        self.volumes
            .sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    }

    /// An NT path as a DOS path where the trace says how (or Windows' fixed
    /// prefixes do); unchanged otherwise.
    pub fn dos_path(&self, path: &str) -> String {
        let lower = path.to_ascii_lowercase();
        for (nt, dos) in &self.volumes {
            if lower.starts_with(nt.as_str()) && path.is_char_boundary(nt.len()) {
                return format!("{dos}{}", &path[nt.len()..]);
            }
        }
        if let Some(rest) = path.strip_prefix(r"\??\") {
            return rest.to_string();
        }
        if lower.starts_with(r"\systemroot\") {
            return format!(r"C:\Windows\{}", &path[r"\SystemRoot\".len()..]);
        }
        // Windows 8 writes image paths on the system volume without a device.
        if lower.starts_with(r"\windows\") {
            let drive = self
                .volumes
                .iter()
                .find(|(nt, _)| nt == r"\systemroot\")
                .map_or("C:", |(_, dos)| dos.get(..2).unwrap_or("C:"));
            return format!("{drive}{path}");
        }
        path.to_string()
    }
}

/// Creating dispositions of a create request: supersede, create, overwrite,
/// overwrite-if (the high byte of CreateOptions). Opening an existing file is
/// not a file event.
fn creates(event: &EtwEvent, props: &Props<'_>) -> bool {
    if event.kernel_class.is_none() && event.event_id == 30 {
        return true;
    }
    let disposition = props.uint(&["CreateOptions"]).map(|o| (o >> 24) & 0xff);
    matches!(disposition, Some(0 | 2 | 4 | 5))
}

fn registry(event: &EtwEvent, props: &Props<'_>, out: &mut MappedEvent) -> Option<()> {
    let kernel = event.kernel_class.is_some();
    let (event_type, key, value) = if kernel {
        let key = props.text(&["KeyName"])?;
        let kind = match event.opcode {
            10 => "CreateKey",
            14 => "SetValue",
            12 => "DeleteKey",
            _ => "DeleteValue",
        };
        (kind, key, None)
    } else {
        match event.event_id {
            1 => {
                let base = props.text(&["BaseName"]).unwrap_or_default();
                let relative = props.text(&["RelativeName"]).unwrap_or_default();
                let key = match (relative.starts_with('\\'), base.is_empty()) {
                    (true, _) | (false, true) => relative,
                    (false, false) => format!("{}\\{relative}", base.trim_end_matches('\\')),
                };
                ("CreateKey", key, None)
            }
            3 => ("DeleteKey", props.text(&["KeyName"])?, None),
            5 => (
                "SetValue",
                props.text(&["KeyName"])?,
                Some(props.text(&["ValueName"]).unwrap_or_default()),
            ),
            _ => (
                "DeleteValue",
                props.text(&["KeyName"])?,
                Some(props.text(&["ValueName"]).unwrap_or_default()),
            ),
        }
    };
    let mut target = registry_path(&key);
    if let Some(value) = value {
        target.push('\\');
        target.push_str(if value.is_empty() {
            "(Default)"
        } else {
            &value
        });
    }
    out.set("EventType", Some(Owned::Str(event_type.into())));
    out.set("TargetObject", Some(Owned::Str(target)));
    if event_type == "SetValue" {
        out.set("Details", registry_details(props));
    }
    Some(())
}

/// `\REGISTRY\MACHINE\...` as `HKLM\...` and `\REGISTRY\USER\...` as
/// `HKU\...`, as Sysmon writes them; other forms (app hives) unchanged.
pub fn registry_path(key: &str) -> String {
    for (nt, short) in [(r"\registry\machine", "HKLM"), (r"\registry\user", "HKU")] {
        if key.len() >= nt.len()
            && key.is_char_boundary(nt.len())
            && key[..nt.len()].eq_ignore_ascii_case(nt)
            && matches!(key.as_bytes().get(nt.len()), None | Some(b'\\'))
        {
            return format!("{short}{}", &key[nt.len()..]);
        }
    }
    key.to_string()
}

/// Sysmon's `Details` of a value set: `DWORD (0x00000001)`, `QWORD (0x...-0x...)`,
/// the string data, `Binary Data`, or `(Empty)`.
fn registry_details(props: &Props<'_>) -> Option<Owned> {
    let kind = props.uint(&["Type"])?;
    let data = match props.get(&["CapturedData"]) {
        Some(Value::Bytes(b)) => b.clone(),
        _ => Vec::new(),
    };
    let text = match kind {
        _ if data.is_empty() => "(Empty)".to_string(),
        4 if data.len() >= 4 => format!(
            "DWORD (0x{:08x})",
            u32::from_le_bytes([data[0], data[1], data[2], data[3]])
        ),
        11 if data.len() >= 8 => {
            let q = u64::from_le_bytes(data[..8].try_into().ok()?);
            format!("QWORD (0x{:08x}-0x{:08x})", q >> 32, q & 0xffff_ffff)
        }
        1 | 2 | 7 => utf16_strings(&data).collect::<Vec<_>>().join(" "),
        _ => "Binary Data".to_string(),
    };
    Some(Owned::Str(text))
}

fn network(event: &EtwEvent, props: &Props<'_>, out: &mut MappedEvent) -> Option<()> {
    let code = if event.kernel_class.is_some() {
        u16::from(event.opcode)
    } else {
        event.event_id
    };
    let initiated = matches!(code, 12 | 28);
    let ip = |names: &[&str]| match props.get(names) {
        Some(Value::Ip(ip)) => Some(*ip),
        _ => None,
    };
    let (daddr, saddr) = (ip(&["daddr"])?, ip(&["saddr"]));
    out.set("Initiated", Some(Owned::Str(initiated.to_string())));
    out.set("Protocol", Some(Owned::Str("tcp".into())));
    out.set("DestinationIp", Some(Owned::Str(daddr.to_string())));
    out.set(
        "DestinationIsIpv6",
        Some(Owned::Str(matches!(daddr, IpAddr::V6(_)).to_string())),
    );
    out.set("DestinationPort", props.uint(&["dport"]).map(Owned::UInt));
    out.set("SourceIp", saddr.map(|s| Owned::Str(s.to_string())));
    out.set(
        "SourceIsIpv6",
        saddr.map(|s| Owned::Str(matches!(s, IpAddr::V6(_)).to_string())),
    );
    out.set("SourcePort", props.uint(&["sport"]).map(Owned::UInt));
    Some(())
}

/// A decoded event's properties, looked up by any of several names (the
/// kernel and manifest spellings differ).
struct Props<'a>(&'a [(pyetwkit_core::Name, Value)]);

impl Props<'_> {
    fn get(&self, names: &[&str]) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| names.contains(&&**k))
            .map(|(_, v)| v)
    }

    fn text(&self, names: &[&str]) -> Option<String> {
        match self.get(names)? {
            Value::Str(s) => Some(s.trim_end_matches('\0').to_string()),
            Value::U64(u) => Some(u.to_string()),
            Value::I64(i) => Some(i.to_string()),
            Value::Guid(g) => Some(g.to_string()),
            Value::Sid(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn uint(&self, names: &[&str]) -> Option<u64> {
        match self.get(names)? {
            Value::U64(u) => Some(*u),
            Value::I64(i) => u64::try_from(*i).ok(),
            _ => None,
        }
    }

    fn sid(&self, names: &[&str]) -> Option<String> {
        match self.get(names)? {
            Value::Sid(s) | Value::Str(s) if s.starts_with("S-") => Some(s.clone()),
            _ => None,
        }
    }
}

/// The image path a command line starts with, when its file name is `name`
/// (`"C:\Windows\system32\cmd.exe" /c ...` for `cmd.exe`).
pub fn image_from_command_line(name: &str, command_line: Option<&str>) -> Option<String> {
    let line = command_line?.trim_start();
    let first = match line.strip_prefix('"') {
        Some(rest) => rest.split('"').next()?,
        None => line.split(' ').next()?,
    };
    (first.contains('\\') && file_name(first).eq_ignore_ascii_case(name)).then(|| first.to_string())
}

/// Sigma's `Image` is a path: a bare file name (all a kernel Process event
/// may give) would read as a process with no file to rules that test for one,
/// so it is left out rather than guessed at.
fn is_path(image: &str) -> bool {
    image.contains('\\')
}

fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// Well-known SIDs by name, as Sysmon writes users (`NT AUTHORITY\SYSTEM`); other
/// SIDs stay SIDs (naming them needs the machine's account database).
pub fn user_name(sid: &str) -> String {
    match sid {
        "S-1-5-18" => r"NT AUTHORITY\SYSTEM".into(),
        "S-1-5-19" => r"NT AUTHORITY\LOCAL SERVICE".into(),
        "S-1-5-20" => r"NT AUTHORITY\NETWORK SERVICE".into(),
        _ => sid.into(),
    }
}

/// A mandatory label SID's integrity level, as Sysmon names it.
pub fn integrity_level(sid: &str) -> Option<&'static str> {
    Some(match sid {
        "S-1-16-0" => "Untrusted",
        "S-1-16-4096" => "Low",
        "S-1-16-8192" => "Medium",
        "S-1-16-8448" => "Medium Plus",
        "S-1-16-12288" => "High",
        "S-1-16-16384" => "System",
        "S-1-16-20480" => "Protected",
        _ => return None,
    })
}

/// NUL-terminated UTF-16LE strings, one after another.
fn utf16_strings(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let strings: Vec<String> = units
        .split(|u| *u == 0)
        .map(String::from_utf16_lossy)
        .collect();
    let n = strings
        .len()
        .saturating_sub(usize::from(units.last() == Some(&0)));
    strings.into_iter().take(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_paths_as_sysmon_writes_them() {
        assert_eq!(
            registry_path(r"\REGISTRY\MACHINE\SOFTWARE\x"),
            r"HKLM\SOFTWARE\x"
        );
        assert_eq!(
            registry_path(r"\Registry\User\S-1-5-21-1_Classes\x"),
            r"HKU\S-1-5-21-1_Classes\x"
        );
        assert_eq!(registry_path(r"\REGISTRY\A\{g}\x"), r"\REGISTRY\A\{g}\x");
        assert_eq!(registry_path(r"\REGISTRY\MACHINEX"), r"\REGISTRY\MACHINEX");
    }

    #[test]
    fn volumes_and_fixed_prefixes() {
        let mut m = EtwMapper::default();
        let mut data = Vec::new();
        for s in [r"\Device\HarddiskVolume3\", r"C:\"] {
            data.extend(s.encode_utf16().chain([0]).flat_map(u16::to_le_bytes));
        }
        m.learn_volume(&data);
        assert_eq!(
            m.dos_path(r"\Device\HarddiskVolume3\Windows\a.exe"),
            r"C:\Windows\a.exe"
        );
        assert_eq!(m.dos_path(r"\device\harddiskvolume3\x"), r"C:\x");
        assert_eq!(
            m.dos_path(r"\Device\HarddiskVolume30\x"),
            r"\Device\HarddiskVolume30\x"
        );
        assert_eq!(m.dos_path(r"\??\C:\x"), r"C:\x");
        assert_eq!(
            m.dos_path(r"\SystemRoot\System32\x.sys"),
            r"C:\Windows\System32\x.sys"
        );
        assert_eq!(
            m.dos_path(r"\Windows\System32\a.dll"),
            r"C:\Windows\System32\a.dll"
        );
    }

    #[test]
    fn image_path_from_the_command_line() {
        let quoted = Some(r#""C:\Windows\system32\cmd.exe" /c dir"#);
        assert_eq!(
            image_from_command_line("cmd.exe", quoted).as_deref(),
            Some(r"C:\Windows\system32\cmd.exe")
        );
        assert_eq!(image_from_command_line("cmd.exe", Some("cmd.exe /c")), None);
        assert_eq!(image_from_command_line("git.exe", quoted), None);
    }

    #[test]
    fn every_mapping_names_categories_sigma_defines() {
        for m in MAPPINGS {
            assert!(!m.categories.is_empty() && !m.fields.is_empty());
        }
    }
}
