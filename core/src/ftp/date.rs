//! Unix seconds to civil UTC dates, for `MDTM`, `MLST` facts and `LIST`.
//!
//! RFC 3659 §2.3 times are `YYYYMMDDHHMMSS` in UTC; `ls -l` shows
//! `Mon DD HH:MM` for recent files and `Mon DD  YYYY` otherwise. The
//! conversion is Howard Hinnant's `civil_from_days`, exact for the whole
//! proleptic Gregorian calendar.

use core::fmt;

/// A UTC date and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Year.
    pub year: i64,
    /// Month, 1-12.
    pub month: u8,
    /// Day of month, 1-31.
    pub day: u8,
    /// Hour, 0-23.
    pub hour: u8,
    /// Minute, 0-59.
    pub minute: u8,
    /// Second, 0-59.
    pub second: u8,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl DateTime {
    /// The UTC date of `secs` seconds after 1970-01-01T00:00:00Z.
    ///
    /// ```
    /// use netboot_core::ftp::date::DateTime;
    /// let d = DateTime::from_unix(1_700_000_000);
    /// assert_eq!(d.to_string(), "20231114221320");
    /// ```
    pub fn from_unix(secs: u64) -> Self {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        DateTime {
            year,
            month,
            day,
            hour: (rem / 3_600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    /// The three-letter English month name.
    pub fn month_name(&self) -> &'static str {
        MONTHS[usize::from(self.month.clamp(1, 12) - 1)]
    }
}

impl fmt::Display for DateTime {
    /// RFC 3659 `time-val` without fractions: `YYYYMMDDHHMMSS`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(DateTime::from_unix(0).to_string(), "19700101000000");
        assert_eq!(
            DateTime::from_unix(951_782_400).to_string(),
            "20000229000000"
        );
        assert_eq!(
            DateTime::from_unix(4_102_444_799).to_string(),
            "20991231235959"
        );
        assert_eq!(DateTime::from_unix(951_782_400).month_name(), "Feb");
        let _ = DateTime::from_unix(u64::MAX);
    }
}
