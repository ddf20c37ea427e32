//! Loops compiled for several vector extensions and chosen at run time.
//!
//! [`multiversion!`](crate::multiversion) compiles one `#[inline(always)]` body for AVX-512, AVX2 and the
//! baseline target; the bodies do plain IEEE arithmetic, so every level gives the same bits.

/// The vector extension an elementwise loop is compiled for. Every loop dispatched this way does plain IEEE
/// arithmetic (no FMA, no reassociation), so AVX-512, AVX2 and the baseline target (SSE2) round lane by lane
/// alike and give bit-identical results; only their speed differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Baseline,
    Avx2,
    Avx512,
}

/// The widest level the dispatched loops may use (0: no cap); see [`Level::cap`].
static CAP: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

impl Level {
    /// The widest level this CPU supports.
    #[inline]
    pub fn detect() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Level::Avx2;
            }
        }
        Level::Baseline
    }

    /// The level the dispatched loops use: the CPU's widest, or narrower if [`Level::cap`] said so.
    #[inline]
    pub fn active() -> Level {
        let best = Level::detect();
        match CAP.load(std::sync::atomic::Ordering::Relaxed) {
            0 => best,
            c => Level::from_rank(c - 1).min(best),
        }
    }

    /// Caps the level of every dispatched loop in this process (None: no cap). The results are the same bits
    /// at every level; this exists to measure and test that.
    pub fn cap(level: Option<Level>) {
        let v = level.map_or(0, |l| l as u8 + 1);
        CAP.store(v, std::sync::atomic::Ordering::Relaxed);
    }

    /// Every level this CPU supports, narrowest first (for tests that compare them).
    pub fn supported() -> Vec<Level> {
        let best = Level::detect();
        [Level::Baseline, Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|l| *l <= best)
            .collect()
    }

    /// Parses `baseline`, `avx2` or `avx512`.
    pub fn parse(s: &str) -> Result<Level, String> {
        match s.to_ascii_lowercase().as_str() {
            "baseline" => Ok(Level::Baseline),
            "avx2" => Ok(Level::Avx2),
            "avx512" => Ok(Level::Avx512),
            _ => Err(format!(
                "unknown SIMD level '{s}': expected baseline, avx2 or avx512"
            )),
        }
    }

    /// The name [`Level::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Level::Baseline => "baseline",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    fn from_rank(r: u8) -> Level {
        match r {
            0 => Level::Baseline,
            1 => Level::Avx2,
            _ => Level::Avx512,
        }
    }
}

/// Defines `pub fn NAME(args)`, which runs the `#[inline(always)]` function `BODY(args)` compiled for
/// [`Level::active`] (the widest the CPU has unless capped), and `pub fn NAME_AT(level, args)`, which runs it at
/// a given level (a level the CPU lacks falls back to the widest narrower one it has). A named
/// `#[target_feature]` function per level is what makes the body compile for that target: a closure passed to
/// one is inlined into it only when it is small.
#[macro_export]
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident / $name_at:ident ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:path) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            $name_at($crate::simd::Level::active(), $($arg),*)
        }

        /// The same at a given [`Level`](crate::simd::Level) (used by tests to compare the levels).
        $vis fn $name_at(level: $crate::simd::Level, $($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                match level {
                    $crate::simd::Level::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => {
                        // SAFETY: AVX-512F support was just checked; the body is plain IEEE arithmetic.
                        #[allow(unsafe_code)]
                        return unsafe { avx512($($arg),*) };
                    }
                    $crate::simd::Level::Avx2 | $crate::simd::Level::Avx512
                        if std::arch::is_x86_feature_detected!("avx2") =>
                    {
                        // SAFETY: AVX2 support was just checked; the body is plain IEEE arithmetic.
                        #[allow(unsafe_code)]
                        return unsafe { avx2($($arg),*) };
                    }
                    _ => {}
                }
            }
            let _ = level;
            $body($($arg),*)
        }
    };
}
