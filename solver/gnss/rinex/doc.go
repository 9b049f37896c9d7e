// Package rinex parses RINEX 2.10/2.11 and 3.x navigation and observation
// files and YUMA almanacs into orbit records and observation epochs.
//
// Navigation: GPS and BeiDou broadcast records (3.x mixed files included);
// records of other systems are skipped. Header ionosphere parameters
// (ION ALPHA/BETA, IONOSPHERIC CORR GPSA/GPSB) become an orbit.Klobuchar.
//
// Observation: every system is kept with its observation codes; epochs with
// event flags 2–5 (their header lines are skipped) and 6 (cycle-slip records)
// are dropped; flag 1 (power failure) keeps its data. Epoch times are the
// receiver time tags converted to GPS seconds.
//
// RINEX is fixed-column text: 2.x navigation records are "I2 date 3D19.12"
// plus seven "3X 4D19.12" lines; 3.x records are "A1 I2 date 3D19.12" plus
// "4X 4D19.12" lines. Fortran D exponents are accepted. Parsers read from an
// io.Reader and never open files.
package rinex
