package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/openmgs/openmgs/internal/lora"
)

// Table names used by OpenMGS.
const (
	TableDevices  = "devices"
	TableSettings = "settings"
)

// Devices is the typed view of the devices table, keyed by EUI-64 (8 bytes,
// big-endian).
type Devices struct{ t Table }

// NewDevices returns the devices view of s.
func NewDevices(s Store) Devices { return Devices{t: s.Table(TableDevices)} }

// Get returns the device with its revision in Rev, or ErrNotFound.
func (d Devices) Get(ctx context.Context, eui lora.EUI64) (*Device, error) {
	b, rev, err := d.t.Get(ctx, eui[:])
	if err != nil {
		return nil, err
	}
	dev, err := UnmarshalDevice(b)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", eui, err)
	}
	dev.Rev = rev
	return dev, nil
}

// Commit writes dev if it is still at revision dev.Rev (0: must not exist
// yet) and sets dev.Rev to the new revision. It returns ErrConflict when the
// device changed since it was read.
func (d Devices) Commit(ctx context.Context, dev *Device) error {
	b, err := MarshalDevice(dev)
	if err != nil {
		return err
	}
	rev, err := d.t.CompareAndSwap(ctx, dev.EUI[:], dev.Rev, b)
	if err != nil {
		return err
	}
	dev.Rev = rev
	return nil
}

// Delete removes the device if it is still at revision rev.
func (d Devices) Delete(ctx context.Context, eui lora.EUI64, rev uint64) error {
	_, err := d.t.CompareAndSwap(ctx, eui[:], rev, nil)
	return err
}

// MaxUpdateAttempts bounds the retries of Update on conflicts.
const MaxUpdateAttempts = 16

// Update reads the device (nil when absent), calls fn, and commits its
// result with compare-and-swap, retrying on conflict. fn may run more than
// once and must have no side effects; it may modify and return cur.
// Returning (nil, nil) deletes the device; returning an error aborts.
func (d Devices) Update(ctx context.Context, eui lora.EUI64, fn func(cur *Device) (*Device, error)) (*Device, error) {
	for range MaxUpdateAttempts {
		cur, err := d.Get(ctx, eui)
		var rev uint64
		switch {
		case errors.Is(err, ErrNotFound):
			cur = nil
		case err != nil:
			return nil, err
		default:
			rev = cur.Rev
		}
		next, err := fn(cur)
		if err != nil {
			return nil, err
		}
		if next == nil {
			if rev == 0 {
				return nil, nil
			}
			err = d.Delete(ctx, eui, rev)
		} else {
			next.EUI, next.Rev = eui, rev
			err = d.Commit(ctx, next)
		}
		if errors.Is(err, ErrConflict) {
			continue
		}
		return next, err
	}
	return nil, fmt.Errorf("update device %s: %w after %d attempts", eui, ErrConflict, MaxUpdateAttempts)
}

// Range calls fn for every device with EUI >= from, in EUI order.
// Returning ErrStop ends the walk.
func (d Devices) Range(ctx context.Context, from lora.EUI64, fn func(*Device) error) error {
	return d.t.Range(ctx, from[:], func(key, value []byte, rev uint64) error {
		dev, err := UnmarshalDevice(value)
		if err != nil {
			return fmt.Errorf("device %x: %w", key, err)
		}
		dev.Rev = rev
		return fn(dev)
	})
}

// Settings holds service-wide values (default ports, ...).
type Settings struct{ t Table }

// NewSettings returns the settings view of s.
func NewSettings(s Store) Settings { return Settings{t: s.Table(TableSettings)} }

const keyDefaultPorts = "default_ports"

// DefaultPorts returns the service default ports (LoRa Cloud's defaults
// until changed).
func (s Settings) DefaultPorts(ctx context.Context) (Ports, error) {
	b, _, err := s.t.Get(ctx, []byte(keyDefaultPorts))
	if errors.Is(err, ErrNotFound) {
		return DefaultPorts(), nil
	}
	if err != nil {
		return Ports{}, err
	}
	if len(b) != 5 {
		return Ports{}, fmt.Errorf("store: default ports record has %d bytes", len(b))
	}
	return Ports{DM: b[0], GNSS: b[1], GNSSNG: b[2], WiFi: b[3], Stream: b[4]}, nil
}

// SetDefaultPorts validates and stores the service default ports.
func (s Settings) SetDefaultPorts(ctx context.Context, p Ports) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return s.t.Write(ctx, []Op{{Key: []byte(keyDefaultPorts), Value: []byte{p.DM, p.GNSS, p.GNSSNG, p.WiFi, p.Stream}}})
}
