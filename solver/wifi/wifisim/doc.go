// Package wifisim generates synthetic Wi-Fi cities and evaluates the wifi
// solver against a plain weighted-centroid baseline on the same scans.
//
// There is no open AP-position dataset (wifi.md §5), so the solver is judged
// here. A City (NewCity) is a square of Config.Size metres around Lat/Lon
// with APs placed uniformly at Config.Density per km², each with
//
//   - a reference power P0ᵢ = RefPower + N(0, RefPowerSpread²) and a height
//     uniform in [0, MaxAPHeight] m above the device;
//   - a database record (a wifi.Index) unless it is among the MissingShare
//     unknown APs: its position blurred by N(0, σ²) per axis with
//     σ = max(3 m, APPositionError/√k), k sightings log-uniform in 1…200,
//     σ reported as AP.Accuracy;
//   - with probability MovedShare, a new true position drawn anywhere in the
//     city while the database keeps the old one.
//
// A scan (City.Sample, City.ScanAt) at a device position draws a per-scan
// receiver offset N(0, DeviceOffset²), then for every AP
// RSSI = P0ᵢ + offset − 10·n·log10(d) + N(0, Shadowing²) with d the 3-D
// distance, independent per AP and scan, rounded to whole dBm. Poisson
// (HotspotRate) mobile hotspots with locally administered MACs are added
// 2–20 m away. APs at or above Sensitivity are sorted by RSSI and the
// strongest MaxResults are encoded with wifi.AppendScan; a scan with fewer
// than MinSend APs is not sent (LBM needs 3).
//
// Run decodes each payload with wifi.DecodeScan, drops locally administered
// MACs, and solves it with wifi.Solver (Config.Solver) and with the baseline:
// the 1/RSSI²-weighted centroid of every known AP (a missing RSSI counts as
// −100 dBm) without clustering, whose accuracy is ichnaea's 95th percentile
// of the distances to the APs clamped to [10, 1000] m. The Report gives for
// both the median, p95 and mean error, the median reported accuracy and the
// coverage (share of true errors within the reported accuracy), the medians
// on the scans both answered, how the solver answered or refused, and how
// many moved APs it rejected. Everything is deterministic in Config.Seed.
//
// Not modelled: spatially correlated or per-AP persistent shadowing,
// buildings and streets (APs are uniform), APs that vanished, and scans from
// moving devices. Measured figures are in the wifi package documentation.
package wifisim
