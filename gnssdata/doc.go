// Package gnssdata is the orbit data service of OpenMGS: it imports RINEX
// navigation files (2.10/2.11/3.x; GPS and BeiDou records, other systems
// skipped) and GPS YUMA almanacs, keeps every imported file in the store so
// that imports survive restarts, and serves the merged orbits to the GNSS
// solver (gnss.Orbits) with ephemeris-first, almanac-fallback selection.
//
// # Storage
//
// Table "gnss_orbits" holds one record per import, keyed by the import id
// (8 bytes, big-endian, increasing):
//
//	byte 0      record version (1)
//	uvarint     length n of the metadata
//	n bytes     metadata, JSON (Import: name, format, time, size, SHA-256)
//	rest        the file as imported, gzip-compressed
//
// The parsed content (counts, spans, ionosphere) is derived from the file
// again when the service opens, so a parser fix applies to old imports. A
// file whose SHA-256 matches an earlier import is not stored twice.
//
// # Retention
//
// With Options.Retention set (mgsd: DefaultRetention, two weeks), imports
// whose data ends (Import.DataEnd: last ephemeris validity, or newest
// almanac reference time) more than the retention before the newest data
// end of all imports are deleted, except the newest import of each format
// (the almanac fallback survives). Import stores the new file and deletes
// the expired ones in one atomic store write, and refuses (ErrRetention) a
// file that would expire at once; Open applies the rule too, so a lowered
// retention takes effect at restart. The rule uses data time, not the
// clock (see Options.Retention). Delete removes imports by id on request.
//
// # In memory
//
// Open parses every stored import and builds one immutable snapshot: an
// orbit.Set of all ephemerides and almanacs, a gnss.Solver over it (with the
// Klobuchar model of the newest navigation file that has one) and the
// status. Import and Delete change the stored imports, then swap in one
// rebuilt snapshot atomically; solves in flight keep the snapshot they
// started with.
package gnssdata
