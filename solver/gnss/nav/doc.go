// Package nav decodes and encodes LR11xx GNSS NAV1 messages and the small
// framings around them (gnss.md §1): REQAID on port 198, the AIDP aiding
// position downlink and the GNSS-NG group header byte on port 192.
//
// NAV1 is one little-endian bit string: the whole payload is read as a single
// little-endian integer and fields are taken from bit 0 upward (LSB first).
//
//	bits  field
//	8     frame type (0x00 "no assistance position", 0x01 "NAV message")
//	16    GPS time indicator
//	1     assistance-position flag
//	12+12 AP latitude, longitude (signed; only when the flag is set)
//	repeated per constellation while at least 8 bits remain:
//	  4   modulation (1 GPS, 2 BeiDou)
//	  4   number of SV records
//	  per SV:
//	    7   sv_id (0–31 GPS PRN−1, 32–50 SBAS PRN−88, 64–100 BeiDou PRN+63)
//	    2   C/N class
//	    6   flags, in read order: bit-change 2, bit-change 1, Doppler error,
//	        Doppler, timestamp 2, timestamp 1
//	    19  timestamp 1   (if flagged)
//	    19  timestamp 2   (if flagged)
//	    15  Doppler, signed (if flagged)
//	    8   bit-change 1  (if flagged)
//	    8   bit-change 2  (if flagged)
//	fewer than 8 bits of padding
//
// The raw chip output starts with a destination byte (0x01 solver) that the
// device strips before sending; StripDestination removes it.
//
// The physical units of the fields are not published. Every inferred unit is
// kept in units.go and nowhere else. NAV2 and NAV3 layouts are not public:
// they are recognised from the first byte and rejected with ErrUnsupportedNAV.
package nav
