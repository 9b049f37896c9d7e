// Package stream implements the LoRa Basics Modem ROSE stream protocol: frame codecs, the server-side
// decoder (redundancy recovery and record de-framing) and a device-side encoder for tests.
//
// Byte layouts (modem-protocol.md §5; multi-byte fields little-endian; on the DM port every uplink
// frame is prefixed with tag 0x14, which callers strip):
//
//	SDATA  SHDR(1) | SOFFL(2) | SYSDAT[M] | REDDAT[N] | WL(1) | SOFFH(2)   (WL and SOFFH only if PCTX)
//	       SHDR bit 7 = PCTX, bits 6..0 = M (0..126; 127 reserved); N = len - 3 - M - 3*PCTX
//	SINFO  FF | FLAGS(1) | WL(1) | RR(1) | SOFF(4) | PCTXINTV(1)
//	       FLAGS bit 0 = RQAWL, bits 2..1 = USZ (unit = 2^USZ octets)
//	SCMD   FLAGS(1) | WL(1) | RR(1) | PCTXINTV(1)   (downlink; DM opcode 0x08)
//	       FLAGS bit 0 = SCMD (1), 1 = SINFO request, 2 = ACKWL, 3 = UPDWL, 4 = UPDRR, 5 = UPDPCI
//	WL     bits 7..6 = class c, 5..0 = f: c0 16+4f, c1 272+8f, c2 784+16f, c3 RFU
//	record hdr | data (each 0xA0 replaced by a chain byte) | A0 | A0 padding; each chain byte holds
//	       0xA0 + distance to the next chain position, the chain ends at the 0xA0 terminator
//
// Redundancy octet i of the frame with uplink counter FCntUp is the XOR of WL/2 octets of the window
// [SOFF-WL, SOFF) chosen by a prbs23 generator seeded with 1 + 1001*(FCntUp ^ i<<8) (§5.6); stream
// offsets below 0 read as 0x00. The Decoder treats every redundancy octet as a GF(2) equation over the
// octets it has not received and solves them by peeling and elimination.
package stream
