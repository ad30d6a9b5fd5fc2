//! Money units. Helix stores and computes money in integer micro-dollars; cents exist only for
//! display and for compatibility columns.

pub const MICROS_PER_USD: i64 = 1_000_000;
pub const MICROS_PER_CENT: i64 = 10_000;

// The two conversions from micro-dollars to cents. Helix stores and computes money in micros; cents
// exist only for display and for compatibility columns. Call these, never divide by 10_000 inline,
// so every screen and column agrees on the rounding:
// - a charge (`cost_cents`) rounds to the nearest cent, halves up: the exact amount stays in micros,
//   so the cent figure only has to be the honest nearest one;
// - a balance (`balance_cents`) rounds down, also below zero, so Helix never shows more money than
//   there is.

/// A charge in cents: the nearest cent, halves rounding up (toward +∞).
/// 4_999 micros → 0, 5_000 → 1, 15_000 → 2, -5_000 → 0, -5_001 → -1.
pub fn cost_cents(cost_micros: i64) -> i64 {
    let cents = cost_micros.div_euclid(MICROS_PER_CENT);
    let remainder = cost_micros.rem_euclid(MICROS_PER_CENT);
    // `cents` is at most i64::MAX / 10_000, so the +1 cannot overflow.
    if remainder >= MICROS_PER_CENT / 2 {
        cents + 1
    } else {
        cents
    }
}

/// Cents needed to cover `micros` (rounded up): what a 402 says a call requires.
pub fn cents_to_cover(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_CENT) + i64::from(micros.rem_euclid(MICROS_PER_CENT) != 0)
}

/// A balance in cents: rounded down (toward −∞, also for negatives), so Helix never shows more
/// money than there is. 19_999 micros → 1, -1 → -1, -10_000 → -1, -10_001 → -2.
pub fn balance_cents(balance_micros: i64) -> i64 {
    balance_micros.div_euclid(MICROS_PER_CENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cost_in_cents_is_the_nearest_cent_with_halves_rounding_up() {
        assert_eq!(cost_cents(0), 0);
        assert_eq!(cost_cents(4_999), 0);
        assert_eq!(cost_cents(5_000), 1);
        assert_eq!(cost_cents(14_999), 1);
        assert_eq!(cost_cents(15_000), 2);
        assert_eq!(cost_cents(-5_000), 0);
        assert_eq!(cost_cents(-5_001), -1);
        assert_eq!(cost_cents(i64::MAX), i64::MAX / MICROS_PER_CENT + 1);
    }

    #[test]
    fn a_balance_in_cents_rounds_down_even_below_zero() {
        assert_eq!(balance_cents(0), 0);
        assert_eq!(balance_cents(19_999), 1);
        assert_eq!(balance_cents(-1), -1);
        assert_eq!(balance_cents(-10_000), -1);
        assert_eq!(balance_cents(-10_001), -2);
        assert_eq!(balance_cents(i64::MIN), i64::MIN / MICROS_PER_CENT - 1);
    }
}
