// Package wifi decodes LoRa Edge Wi-Fi scan payloads and positions them
// against a database of known access points (wifi.md).
//
// # Payloads
//
// LBM Wi-Fi uplink, FPort 197 by default (the port mapping is configuration),
// decoded by DecodeScan and written by AppendScan:
//
//	format 0x00, MAC only:   00 | MAC(6) | MAC(6) | …           1 + 6n bytes
//	format 0x01, RSSI + MAC: 01 | RSSI(int8 dBm) MAC(6) | …     1 + 7n bytes
//
// The RSSI precedes its MAC (TTN's old Collos layout, MAC then RSSI and no
// format byte, is a different format). LBM sorts by descending RSSI and sends
// at least 3 APs; the decoder requires MinAPs = 2 distinct MACs (the modem
// service's rule), keeps duplicates and wire order, and keeps RSSI 0x80 (−128)
// and 0x7F (+127) for exact round trips while Observation.UsableRSSI marks
// them, and any RSSI ≥ 0 dBm, as unusable. DecodeBody reads records without
// the format byte (the port-196 MAC-only variant).
//
// LoRa Edge tracker TLV records (DecodeTrackerRecord, AppendTrackerRecord):
//
//	tag 0x08 (legacy):     08 | len | RSSI MAC | RSSI MAC | …
//	tag 0x0E (timestamp):  0E | len | version(1) | device time(4, BE) | RSSI MAC | …
//
// TrackerRecord.Payload is what servers forward as msgtype "wifi": the pairs
// behind a 0x01 byte. Other tags (GNSS 0x05–0x07, 0x0F, sensors 0x09–0x0D)
// return ErrUnknownTag with their length so a caller can skip them.
//
// IsLocallyAdministered flags MACs with bit 0x02 of the first octet (usually
// phone hotspots); SplitLocallyAdministered drops them and returns them for
// logging. That LoRa Cloud drops them too is unverified.
//
// # Solver
//
// Solver.Solve takes the observations (duplicates and unknown MACs allowed)
// and an APSource:
//
//  1. Distinct MACs, keeping the strongest usable RSSI of duplicates; look up
//     the known APs; records with impossible positions are ignored. Fewer
//     than 2 known APs (1 with Config.AllowSingleAP) is ErrTooFewKnownAPs.
//
//  2. Complete-linkage clustering cut at ClusterRadius (500 m, ichnaea's
//     MAX_WIFI_CLUSTER_METERS); the cluster with the most APs (then the
//     largest RSSI weight) wins, the others are Rejected. No cluster of 2 is
//     ErrNoConsistentCluster; AllowSingleAP never picks one of several
//     disagreeing APs.
//
//  3. At most MaxAPs (20) strongest APs; a local east/north plane at the
//     strongest AP (WGS 84 radii of curvature).
//
//  4. Weighted centroid, weight 1/d̂² with d̂ the path-loss range of the RSSI
//     (an AP without RSSI counts as heard at −85 dBm). With fewer than 3
//     usable RSSIs (MAC-only scans) this is the answer (MethodCentroid).
//
//  5. Otherwise maximum a posteriori over position p and a common RSSI
//     offset b (MethodPathLoss) by Levenberg–Marquardt on the cost C below,
//     from the centroid and next to the strongest AP (the three strongest when
//     fewer than 6 RSSIs), first with a Cauchy loss; APs whose residual
//     exceeds 1.3·OutlierSigma there, then OutlierSigma (3.5) in the Gaussian
//     refit, are dropped (likely moved) while 3 RSSI APs remain.
//
//  6. Accuracy: the radius holding Confidence (0.68) of the fit's Gaussian
//     posterior — covariance from the Gauss–Newton curvature, scaled by the
//     residual variance factor when above 1, radius exact for the ellipse —
//     or, for the centroid, of the weighted mean's error with its spread
//     estimated from the APs (an F(2, ν) quantile), clamped to [10, 1000] m.
//     The radius is a 68 % circle by default, like Android's Location
//     accuracy; ichnaea reports a 95 % radius (Confidence 0.95).
//
// The cost, −2·log of the posterior up to a constant:
//
//	C = Σᵢ ((RSSIᵢ − μᵢ)/σᵢ)² + 2·log σᵢ          reported APs i
//	  − 2·Σⱼ log((1−q) + q·Φ((T − μⱼ)/σⱼ))        absent APs j
//	  + (b/σ_b)² + |p − c|²/(4·var c)              priors
//
//	μ = P0 + b − 10·n·log10 d,   d² = ρ² + h² + 2σ_a²,   σ² = σ_sh² + (10n/ln10 · σ_a · ρ/d²)²
//
// ρ is the horizontal distance to the stored AP position and σ_a that
// position's per-axis σ (AP.Accuracy): d² is the mean squared distance to an
// AP so placed and the σ term maps its position error into dB. Absent APs
// (Config.Absence, when the source is also a NearbySource) are the 24 nearest
// known APs the scan did not report: they must have been below T, the weakest
// reported RSSI; q = Presence (0.8) allows for APs no longer where the
// database says. The last prior is weak, centred on the centroid c of step 4.
//
// Solve is allocation-free apart from Rejected and safe for concurrent use.
// Index is an in-memory APSource and NearbySource (a map by MAC plus a
// 0.001° grid).
//
// # Assumptions
//
// Defaults model 2.4 GHz urban propagation: P0 = −40 dBm at 1 m, n = 3, 6 dB
// log-normal shadowing, independent per AP, a 3 dB prior on the common
// offset, APs 3 m above or below the device. These are rules of thumb
// (wifi.md §3.2, unverified) and are all Config fields. AP.Accuracy is taken
// as the per-axis σ of the stored position. Absence evidence assumes the
// database lists most APs around the device.
//
// # Measured (wifisim, 2000 scans per row)
//
// City: 2 km square, 2000 APs/km², n = 3, σ = 6 dB, 5 % moved to a random
// place in the city, 20 % unknown, P0 spread 2 dB per AP and 2 dB per scan,
// AP heights 0–10 m, database σ 30 m/√observations (3 m floor), 0.2 hotspots
// per scan, 7 RSSI + MAC results per scan. Baseline: 1/RSSI² weighted
// centroid of every known AP (wifi.md §3.1 step 4), no clustering. Ratio =
// median over the median of the baseline on the scans both answered;
// coverage = share of true errors ≤ the reported accuracy.
//
//	scenario                        median  p95    ratio  coverage  baseline median/p95
//	default, seed 1                 11.6 m  33.8 m 0.62   79 %      18.7 m / 280 m
//	default, seed 2                 11.7 m  30.9 m 0.61   78 %      19.0 m / 293 m
//	default, seed 3                 11.9 m  32.7 m 0.65   79 %      18.4 m / 257 m
//	source without NearbySource     13.8 m  37.4 m 0.74   80 %      18.7 m / 280 m
//	Confidence 0.95                 11.6 m  33.8 m 0.62   95 %
//	MAC only (centroid)             16.4 m  44.2 m 0.84   79 %      19.7 m / 281 m
//	5 APs per scan                  12.6 m  39.2 m 0.70   82 %      18.2 m / 346 m
//	12 APs per scan                 10.2 m  28.0 m 0.47   78 %      21.8 m / 214 m
//	500 APs/km²                     20.9 m  59.3 m 0.65   73 %      32.3 m / 328 m
//	20 % moved                      13.2 m  46.0 m 0.09   75 %     155.5 m / 523 m
//	shadowing 8 dB                  15.0 m  45.5 m 0.61   75 %      24.5 m / 282 m
//	city n = 3.5 (solver 3)         11.9 m  37.2 m 0.72   76 %      16.6 m / 303 m
//	city P0 −48 dBm (solver −40)    13.7 m  40.3 m 0.74   69 %      18.8 m / 316 m
//	AP position error ×1.5          13.3 m  39.8 m 0.62   83 %      21.6 m / 280 m
//	perfect database (no moves)      8.8 m  25.2 m 0.66   72 %      13.3 m /  32 m
//
// Most of the gain over the baseline in the median comes from absence
// evidence and from rejecting moved APs; the path-loss fit alone is close to
// the best 1/d̂² centroid when AP positions are uncertain by ~10 m. Moved
// APs: 96 % of those heard in the default city were rejected, with about 100
// good APs (1 %) rejected by mistake. A strong AP moved only 100–200 m stays
// within the cluster and is caught by its residual in 28–83 % of cases
// (8-AP scenes, strongest AP moved; 100 % from 400 m).
//
// Speed (AMD EPYC, 2 cores shared with other jobs, load 2.5–6; six runs of
// 2000–3000 solves): a 20-AP scan with lookups in a 1,000,000-AP Index,
// absence evidence on, median 0.15–0.20 ms, p95 0.24–0.47 ms; building that
// Index 0.6–1.0 s and 140 MB of heap. Solve on small indexes: 7 APs ~32 µs,
// 20 APs ~60 µs, no allocations. DecodeScan 56–92 ns (1 allocation),
// AppendScan 46–57 ns, 20 Index lookups ~0.2–0.25 µs.
package wifi
