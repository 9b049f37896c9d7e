// Package eval measures the GNSS snapshot solver on RINEX observations: each
// epoch becomes an LR1110-shaped NAV1 snapshot (gnss.md §8), is perturbed,
// encoded and decoded, solved and compared with the station position.
//
// Snapshot construction per epoch: code phase = (C1 + noise) mod 1 ms,
// quantised to the NAV1 timestamp unit; time indicator from the epoch time;
// assistance position = truth moved by the AP error, quantised to 12+12 bits;
// Doppler (optional) from D1 or, without D1, from the ephemeris for a static
// receiver; the capture-time estimate = epoch time + time error. Errors are
// drawn from a seeded generator so runs are reproducible. Pure: no I/O.
package eval
