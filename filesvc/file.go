package filesvc

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// File is a reassembled upload.
type File struct {
	Port      uint8  // application index from the header
	Encrypted bool   // header encryption flag: Data was sent AppSKey-encrypted
	Data      []byte // file bytes (ciphertext while Encrypted && !Decrypted); nil on ErrHashMismatch
	// Hash is the header hash: SHA-256(file)[0..7] for plain uploads,
	// SHA-256(ciphertext)[0..3] for encrypted ones.
	Hash []byte
	// PlainHash is SHA-256(plaintext)[0..3], encrypted uploads only.
	PlainHash []byte
	// Decrypted is set by Decrypt once Data holds the verified plaintext.
	Decrypted bool
}

// decodeStream parses the virtual stream held in the solved source chunks:
// header, length, hash verification.
func decodeStream(chunks []uint64) (*File, error) {
	cct := len(chunks)
	b := make([]byte, cct*ChunkSize)
	for i, c := range chunks {
		binary.LittleEndian.PutUint64(b[i*ChunkSize:], c)
	}
	f := &File{Port: b[0]}
	switch b[1] {
	case 0:
	case 1:
		f.Encrypted = true
	default:
		return nil, &DecodeError{Field: "encryption", Offset: 1, Err: ErrRange}
	}
	n := int(binary.LittleEndian.Uint16(b[2:]))
	switch {
	case n > MaxFileSize:
		return nil, &DecodeError{Field: "length", Offset: 2, Err: ErrTooLarge}
	case n == 0 || chunkCount(n) != cct:
		return nil, &DecodeError{Field: "length", Offset: 2, Err: fmt.Errorf("%w: %d bytes do not give %d chunks", ErrRange, n, cct)}
	}
	data := b[HeaderSize : HeaderSize+n : HeaderSize+n]
	sum := sha256.Sum256(data)
	var want []byte
	if f.Encrypted {
		f.Hash = bytes.Clone(b[4:8])
		f.PlainHash = bytes.Clone(b[8:12])
		want = sum[:4]
	} else {
		f.Hash = bytes.Clone(b[4:12])
		want = sum[:8]
	}
	if !bytes.Equal(f.Hash, want) {
		return f, ErrHashMismatch
	}
	f.Data = data
	return f, nil
}

// Decrypt decrypts an encrypted file in place with the AppSKey (AES-128-CTR,
// §4.5) and verifies SHA-256(plain)[0..3] against f.PlainHash. On success
// Data holds the plaintext and Decrypted is set; on ErrHashMismatch (wrong
// key, corrupt file) f is left unchanged. Plain or already decrypted files
// return ErrNotEncrypted.
func Decrypt(appSKey [16]byte, f *File) error {
	if f == nil || !f.Encrypted || f.Decrypted {
		return ErrNotEncrypted
	}
	if len(f.PlainHash) != 4 {
		return fmt.Errorf("filesvc: plain hash of %d bytes, want 4: %w", len(f.PlainHash), ErrRange)
	}
	if f.Data == nil {
		return fmt.Errorf("filesvc: no data to decrypt: %w", ErrHashMismatch)
	}
	plain := encrypt(appSKey, f.Data, f.PlainHash)
	sum := sha256.Sum256(plain)
	if !bytes.Equal(sum[:4], f.PlainHash) {
		return ErrHashMismatch
	}
	copy(f.Data, plain)
	f.Decrypted = true
	return nil
}
