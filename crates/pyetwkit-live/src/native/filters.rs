//! EnableTraceEx2's filter descriptors for a provider: event ids
//! (EVENT_FILTER_EVENT_ID) and process ids (a ULONG array). ferrisetw's pid
//! filter takes u16 pids, so both are built here; the blobs live as long as
//! the descriptors that point at them.

use windows::Win32::System::Diagnostics::Etw::{
    EVENT_FILTER_DESCRIPTOR, EVENT_FILTER_TYPE_EVENT_ID, EVENT_FILTER_TYPE_PID,
};

use crate::enablement::ProviderEnable;

/// A provider's filters: the blobs and descriptors pointing into them.
pub struct Filters {
    blobs: Vec<Vec<u8>>,
    descriptors: Vec<EVENT_FILTER_DESCRIPTOR>,
}

/// EVENT_FILTER_EVENT_ID: FilterIn, Reserved, Count, then the ids.
pub fn event_id_blob(ids: &[u16], filter_in: bool) -> Vec<u8> {
    let mut b = vec![u8::from(filter_in), 0];
    b.extend_from_slice(&(ids.len() as u16).to_le_bytes());
    for id in ids {
        b.extend_from_slice(&id.to_le_bytes());
    }
    b
}

/// EVENT_FILTER_TYPE_PID: the pids as 32-bit values.
pub fn pid_blob(pids: &[u32]) -> Vec<u8> {
    pids.iter().flat_map(|p| p.to_le_bytes()).collect()
}

impl Filters {
    pub fn of(provider: &ProviderEnable) -> Filters {
        let mut typed = Vec::new();
        if let Some(f) = &provider.event_ids {
            typed.push((
                EVENT_FILTER_TYPE_EVENT_ID,
                event_id_blob(&f.ids, f.filter_in),
            ));
        }
        if !provider.pids.is_empty() {
            typed.push((EVENT_FILTER_TYPE_PID, pid_blob(&provider.pids)));
        }
        let descriptors = typed
            .iter()
            .map(|(kind, blob)| EVENT_FILTER_DESCRIPTOR {
                Ptr: blob.as_ptr() as u64,
                Size: blob.len() as u32,
                Type: *kind,
            })
            .collect();
        Filters {
            blobs: typed.into_iter().map(|(_, b)| b).collect(),
            descriptors,
        }
    }

    /// Whether ferrisetw's own enable cannot express these filters.
    pub fn need_our_enable(provider: &ProviderEnable) -> bool {
        !provider.pids.is_empty() || provider.event_ids.as_ref().is_some_and(|f| !f.filter_in)
    }

    pub fn descriptors(&mut self) -> &mut [EVENT_FILTER_DESCRIPTOR] {
        debug_assert_eq!(self.blobs.len(), self.descriptors.len());
        &mut self.descriptors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enablement::EventIdFilter;
    use pyetwkit_core::Guid;

    #[test]
    #[allow(unsafe_code)]
    fn blobs_are_laid_out_as_evntprov_h_says() {
        assert_eq!(event_id_blob(&[1, 0x102], false), [0, 0, 2, 0, 1, 0, 2, 1]);
        assert_eq!(pid_blob(&[70_000]), 70_000u32.to_le_bytes());
        let mut p = ProviderEnable::new(Guid::NIL);
        p.event_ids = Some(EventIdFilter {
            ids: vec![7],
            filter_in: true,
        });
        p.pids = vec![70_000, 4];
        let mut f = Filters::of(&p);
        let d = f.descriptors();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].Type, d[0].Size), (EVENT_FILTER_TYPE_EVENT_ID, 6));
        assert_eq!((d[1].Type, d[1].Size), (EVENT_FILTER_TYPE_PID, 8));
        // SAFETY: the descriptor points into the blob `f` owns.
        let pids = unsafe { std::slice::from_raw_parts(d[1].Ptr as *const u8, 8) };
        assert_eq!(pids, pid_blob(&[70_000, 4]));
        assert!(Filters::need_our_enable(&p), "32-bit pids are ours to set");
    }
}
