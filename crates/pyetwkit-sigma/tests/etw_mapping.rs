//! The ETW-to-Sigma mapping of the events the corpus recordings lack
//! (registry, network, DNS, PowerShell, file deletes), fed the properties
//! their manifests and MOF classes define (`tests/test_sigma_mapping_names.py`
//! checks those names against the manifests), then matched with rules.

use pyetwkit_core::{class_of_guid, EtwEvent, EventKind, Guid, Name, SharedBytes, Value};
use pyetwkit_sigma::etw::{self, EtwMapper, MappedEvent, Owned};
use pyetwkit_sigma::{LoadOptions, LogSource, RuleSet, Scratch};

/// A header-only event: a manifest provider's event id, or a kernel class's opcode.
fn event(provider: Guid, event_id: u16, opcode: u8, pid: u32) -> EtwEvent {
    let kernel_class = class_of_guid(provider);
    EtwEvent {
        kind: if kernel_class.is_some() {
            EventKind::Kernel
        } else {
            EventKind::Event
        },
        header_type: None,
        provider_id: provider,
        hook_id: None,
        kernel_class,
        pointer_size: 8,
        event_id,
        version: 0,
        opcode,
        level: 4,
        task: 0,
        keywords: 0,
        channel: 0,
        pid: Some(pid),
        tid: Some(1),
        processor: Some(0),
        filetime: 0,
        user_data: SharedBytes::default(),
        activity_id: None,
        extended: SharedBytes::default(),
        file_offset: None,
        process: None,
        schema: None,
        annotation: None,
    }
}

fn props(list: &[(&'static str, Value)]) -> Vec<(Name, Value)> {
    list.iter()
        .map(|(k, v)| (Name::Static(k), v.clone()))
        .collect()
}

fn text(v: &str) -> Value {
    Value::Str(v.to_string())
}

fn field<'a>(m: &'a MappedEvent, name: &str) -> Option<&'a Owned> {
    m.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
}

fn str_field<'a>(m: &'a MappedEvent, name: &str) -> &'a str {
    match field(m, name) {
        Some(Owned::Str(s)) => s,
        other => panic!("{name}: {other:?}"),
    }
}

fn tcpip() -> Guid {
    pyetwkit_core::ALL_CLASSES
        .iter()
        .find(|c| c.name == "TcpIp")
        .expect("TcpIp class")
        .guid
}

#[test]
fn registry_set_value_as_sysmon_writes_it() {
    let mut mapper = EtwMapper::default();
    let e = event(etw::KERNEL_REGISTRY, 5, 0, 4242);
    let m = mapper
        .map_decoded(
            &e,
            &props(&[
                (
                    "KeyName",
                    text(r"\REGISTRY\MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run"),
                ),
                ("ValueName", text("Updater")),
                ("Type", Value::U64(4)),
                ("CapturedData", Value::Bytes(vec![1, 0, 0, 0])),
            ]),
        )
        .expect("mapped");
    assert_eq!(m.categories, ["registry_set", "registry_event"]);
    assert_eq!(
        str_field(&m, "TargetObject"),
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run\Updater"
    );
    assert_eq!(str_field(&m, "EventType"), "SetValue");
    assert_eq!(str_field(&m, "Details"), "DWORD (0x00000001)");
    assert_eq!(field(&m, "ProcessId"), Some(&Owned::UInt(4242)));
    // The unnamed value, and string data.
    let m = mapper
        .map_decoded(
            &e,
            &props(&[
                (
                    "KeyName",
                    text(r"\REGISTRY\USER\S-1-5-21-1-500_Classes\ms-settings\Shell\Open\command"),
                ),
                ("ValueName", text("")),
                ("Type", Value::U64(1)),
                (
                    "CapturedData",
                    Value::Bytes(
                        "cmd.exe\0"
                            .encode_utf16()
                            .flat_map(u16::to_le_bytes)
                            .collect(),
                    ),
                ),
            ]),
        )
        .expect("mapped");
    assert_eq!(
        str_field(&m, "TargetObject"),
        r"HKU\S-1-5-21-1-500_Classes\ms-settings\Shell\Open\command\(Default)"
    );
    assert_eq!(str_field(&m, "Details"), "cmd.exe");
}

#[test]
fn registry_keys_created_and_deleted() {
    let mut mapper = EtwMapper::default();
    let created = mapper
        .map_decoded(
            &event(etw::KERNEL_REGISTRY, 1, 0, 8),
            &props(&[
                (
                    "BaseName",
                    text(r"\REGISTRY\MACHINE\SYSTEM\CurrentControlSet\Services"),
                ),
                ("RelativeName", text("EvilSvc")),
            ]),
        )
        .expect("mapped");
    assert_eq!(created.categories, ["registry_add", "registry_event"]);
    assert_eq!(
        str_field(&created, "TargetObject"),
        r"HKLM\SYSTEM\CurrentControlSet\Services\EvilSvc"
    );
    assert_eq!(str_field(&created, "EventType"), "CreateKey");
    let deleted = mapper
        .map_decoded(
            &event(etw::KERNEL_REGISTRY, 6, 0, 8),
            &props(&[
                ("KeyName", text(r"\REGISTRY\MACHINE\SOFTWARE\X")),
                ("ValueName", text("V")),
            ]),
        )
        .expect("mapped");
    assert_eq!(deleted.categories, ["registry_delete", "registry_event"]);
    assert_eq!(str_field(&deleted, "EventType"), "DeleteValue");
    assert_eq!(str_field(&deleted, "TargetObject"), r"HKLM\SOFTWARE\X\V");
}

#[test]
fn network_connect_and_accept() {
    let mut mapper = EtwMapper::default();
    let connect = mapper
        .map_decoded(
            &event(tcpip(), 0, 12, 0),
            &props(&[
                ("PID", Value::U64(1234)),
                ("daddr", Value::Ip("203.0.113.9".parse().expect("ip"))),
                ("saddr", Value::Ip("10.0.0.5".parse().expect("ip"))),
                ("dport", Value::U64(4444)),
                ("sport", Value::U64(50123)),
            ]),
        )
        .expect("mapped");
    assert_eq!(connect.categories, ["network_connection"]);
    assert_eq!(str_field(&connect, "Initiated"), "true");
    assert_eq!(str_field(&connect, "DestinationIp"), "203.0.113.9");
    assert_eq!(field(&connect, "DestinationPort"), Some(&Owned::UInt(4444)));
    assert_eq!(field(&connect, "ProcessId"), Some(&Owned::UInt(1234)));
    assert_eq!(str_field(&connect, "DestinationIsIpv6"), "false");
    let accept = mapper
        .map_decoded(
            &event(tcpip(), 0, 31, 0),
            &props(&[
                ("PID", Value::U64(4)),
                ("daddr", Value::Ip("2001:db8::1".parse().expect("ip"))),
            ]),
        )
        .expect("mapped");
    assert_eq!(str_field(&accept, "Initiated"), "false");
    assert_eq!(str_field(&accept, "DestinationIsIpv6"), "true");
    // Sends are no connections.
    assert!(mapper
        .map_decoded(&event(tcpip(), 0, 10, 0), &props(&[]))
        .is_none());
}

#[test]
fn dns_powershell_and_file_deletes() {
    let mut mapper = EtwMapper::default();
    let dns = mapper
        .map_decoded(
            &event(etw::DNS_CLIENT, 3008, 0, 77),
            &props(&[
                ("QueryName", text("evil.example")),
                ("QueryStatus", Value::U64(0)),
                ("QueryResults", text("192.0.2.1;")),
            ]),
        )
        .expect("mapped");
    assert_eq!(dns.categories, ["dns_query"]);
    assert_eq!(str_field(&dns, "QueryName"), "evil.example");
    assert_eq!(str_field(&dns, "QueryStatus"), "0");
    let script = mapper
        .map_decoded(
            &event(etw::POWERSHELL, 4104, 0, 77),
            &props(&[
                (
                    "ScriptBlockText",
                    text("IEX (New-Object Net.WebClient).DownloadString('x')"),
                ),
                ("Path", text("")),
            ]),
        )
        .expect("mapped");
    assert_eq!(script.categories, ["ps_script"]);
    assert!(str_field(&script, "ScriptBlockText").starts_with("IEX"));
    let module = mapper
        .map_decoded(
            &event(etw::POWERSHELL_CORE, 4103, 0, 77),
            &props(&[("Payload", text("CommandInvocation(Get-Process)"))]),
        )
        .expect("mapped");
    assert_eq!(module.categories, ["ps_module"]);
    let delete = mapper
        .map_decoded(
            &event(etw::KERNEL_FILE, 26, 0, 77),
            &props(&[("FilePath", text(r"\??\C:\Users\a\evil.exe"))]),
        )
        .expect("mapped");
    assert_eq!(delete.categories, ["file_delete"]);
    assert_eq!(str_field(&delete, "TargetFilename"), r"C:\Users\a\evil.exe");
}

#[test]
fn file_creates_only_when_the_disposition_creates() {
    let mut mapper = EtwMapper::default();
    let with = |options: u64| {
        props(&[
            ("FileName", text(r"\??\C:\x.txt")),
            ("CreateOptions", Value::U64(options)),
        ])
    };
    let open = mapper.map_decoded(&event(etw::KERNEL_FILE, 12, 0, 5), &with(1 << 24));
    assert!(open.is_none(), "FILE_OPEN is no file event");
    for disposition in [0u64, 2, 4, 5] {
        let made = mapper.map_decoded(&event(etw::KERNEL_FILE, 12, 0, 5), &with(disposition << 24));
        assert_eq!(
            made.expect("mapped").categories,
            ["file_event"],
            "disposition {disposition}"
        );
    }
    // CreateNewFile is a creation whatever its options say.
    assert!(mapper
        .map_decoded(&event(etw::KERNEL_FILE, 30, 0, 5), &with(1 << 24))
        .is_some());
}

#[test]
fn mapped_events_match_rules_of_their_category() {
    let rule = r"
title: Run key set
id: 00000000-0000-4000-8000-00000000aa01
logsource: {product: windows, category: registry_set}
detection:
    selection:
        TargetObject|contains: '\CurrentVersion\Run\'
        Details|startswith: 'DWORD'
    condition: selection
---
title: Any registry event under Run
id: 00000000-0000-4000-8000-00000000aa02
logsource: {product: windows, category: registry_event}
detection:
    selection:
        TargetObject|contains: '\CurrentVersion\Run'
    condition: selection
";
    let rules = RuleSet::from_texts(&[("rules".into(), rule.into())], &LoadOptions::default());
    assert!(rules.rejected().is_empty(), "{:?}", rules.rejected());
    let mut mapper = EtwMapper::default();
    let mapped = mapper
        .map_decoded(
            &event(etw::KERNEL_REGISTRY, 5, 0, 1),
            &props(&[
                (
                    "KeyName",
                    text(r"\REGISTRY\MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run"),
                ),
                ("ValueName", text("x")),
                ("Type", Value::U64(4)),
                ("CapturedData", Value::Bytes(vec![0; 4])),
            ]),
        )
        .expect("mapped");
    let mut scratch = Scratch::default();
    let found = pyetwkit_sigma::stage::match_mapped(&rules, &mapped, &mut scratch);
    let titles: Vec<&str> = found
        .iter()
        .map(|(i, _)| rules.rules()[*i as usize].info.title.as_str())
        .collect();
    assert_eq!(titles, ["Run key set", "Any registry event under Run"]);
    // Not a process creation.
    let source = LogSource::new(Some("windows"), Some("process_creation"), None);
    assert!(rules.matches(&mapped, &source, &mut scratch).is_empty());
}
