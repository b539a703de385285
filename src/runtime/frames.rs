//! `FramePacer`: a dirty flag and a minimum interval between frames. A
//! change after an idle stretch is drawn at once; a burst of changes is
//! drawn at most once per interval. Nothing is drawn when nothing changed.

use std::time::{Duration, Instant};

/// ~60 frames a second at most.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(16);

#[derive(Debug, Clone, Copy)]
pub struct FramePacer {
    dirty: bool,
    last: Option<Instant>,
    interval: Duration,
}

impl Default for FramePacer {
    fn default() -> Self {
        Self::new(FRAME_INTERVAL)
    }
}

impl FramePacer {
    pub fn new(interval: Duration) -> Self {
        Self {
            dirty: false,
            last: None,
            interval,
        }
    }

    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// When the next frame is due: None while nothing changed.
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        if !self.dirty {
            return None;
        }
        Some(
            self.last
                .map_or(now, |last| (last + self.interval).max(now)),
        )
    }

    pub fn drawn(&mut self, at: Instant) {
        self.dirty = false;
        self.last = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesces_bursts_and_sleeps_when_idle() {
        let t0 = Instant::now();
        let mut pacer = FramePacer::default();
        assert_eq!(pacer.deadline(t0), None, "idle: no frame");
        pacer.mark_dirty();
        assert_eq!(pacer.deadline(t0), Some(t0), "first change draws at once");
        pacer.drawn(t0);
        for _ in 0..1000 {
            pacer.mark_dirty();
        }
        let t1 = t0 + Duration::from_millis(1);
        assert_eq!(
            pacer.deadline(t1),
            Some(t0 + FRAME_INTERVAL),
            "a burst waits for the interval"
        );
        pacer.drawn(t0 + FRAME_INTERVAL);
        assert_eq!(pacer.deadline(t1), None);
    }
}
