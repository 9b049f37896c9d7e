package uplink

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
)

// ErrNotFound is returned for an unknown device.
var ErrNotFound = store.ErrNotFound

// Device returns a device's stored state.
func (p *Pipeline) Device(ctx context.Context, eui lora.EUI64) (*store.Device, error) {
	return p.devices.Get(ctx, eui)
}

// EffectivePorts returns the ports that apply to d.
func (p *Pipeline) EffectivePorts(ctx context.Context, d *store.Device) (store.Ports, error) {
	if d.Ports != nil {
		return *d.Ports, nil
	}
	return p.DefaultPorts(ctx)
}

// ListDevices returns up to limit devices with EUI >= from, and the EUI to
// continue from (ok false on the last page).
func (p *Pipeline) ListDevices(ctx context.Context, from lora.EUI64, limit int) (devs []*store.Device, next lora.EUI64, more bool, err error) {
	err = p.devices.Range(ctx, from, func(d *store.Device) error {
		if len(devs) == limit {
			next, more = d.EUI, true
			return store.ErrStop
		}
		devs = append(devs, d)
		return nil
	})
	return devs, next, more, err
}

// DeleteDevice removes a device and all its state.
func (p *Pipeline) DeleteDevice(ctx context.Context, eui lora.EUI64) error {
	found := false
	_, err := p.devices.Update(ctx, eui, func(cur *store.Device) (*store.Device, error) {
		found = cur != nil
		return nil, nil
	})
	if err == nil && !found {
		return ErrNotFound
	}
	if err == nil {
		for _, fn := range p.afterDelete {
			fn(context.WithoutCancel(ctx), eui)
		}
	}
	return err
}

// update applies fn to an existing device (ErrNotFound otherwise) or, with
// create, to a new one.
func (p *Pipeline) update(ctx context.Context, eui lora.EUI64, create bool, fn func(d *store.Device) error) (*store.Device, error) {
	now := unixSeconds(p.now())
	return p.devices.Update(ctx, eui, func(cur *store.Device) (*store.Device, error) {
		if cur == nil {
			if !create {
				return nil, ErrNotFound
			}
			cur = &store.Device{EUI: eui, Created: now}
		}
		if err := fn(cur); err != nil {
			return nil, err
		}
		return cur, nil
	})
}

// AddRequests queues requests for a device (creating it if needed) and
// sets the upcount/updelay of its downlinks.
func (p *Pipeline) AddRequests(ctx context.Context, eui lora.EUI64, reqs []store.Request, upcount, updelay uint8) (*store.Device, error) {
	now := unixSeconds(p.now())
	return p.update(ctx, eui, true, func(d *store.Device) error {
		if n := len(d.Requests) + len(reqs); n > p.cfg.MaxPendingRequests {
			return fmt.Errorf("%w: device %s would have %d pending requests, the limit is %d", ErrLimit, eui, n, p.cfg.MaxPendingRequests)
		}
		for _, r := range reqs {
			d.NextRequestID++
			d.Requests = append(d.Requests, store.PendingRequest{ID: d.NextRequestID, Time: now, Request: r})
		}
		d.Upcount, d.Updelay = upcount, updelay
		return nil
	})
}

// ClearRequests removes all pending requests of a device, or those with
// the given ids.
func (p *Pipeline) ClearRequests(ctx context.Context, eui lora.EUI64, ids []uint32) (*store.Device, error) {
	return p.update(ctx, eui, false, func(d *store.Device) error {
		if len(ids) == 0 {
			d.Requests = nil
			return nil
		}
		for _, id := range ids {
			if !slices.ContainsFunc(d.Requests, func(r store.PendingRequest) bool { return r.ID == id }) {
				return invalid("ids", "device %s has no pending request %d", eui, id)
			}
		}
		d.Requests = slices.DeleteFunc(d.Requests, func(r store.PendingRequest) bool { return slices.Contains(ids, r.ID) })
		return nil
	})
}

// SetAppSKey stores a device's AppSKey (nil removes it), creating the
// device if needed. The key decrypts encrypted file uploads.
func (p *Pipeline) SetAppSKey(ctx context.Context, eui lora.EUI64, key []byte) error {
	if key != nil && len(key) != 16 {
		return invalid("appskey", "must be 16 bytes, got %d", len(key))
	}
	_, err := p.update(ctx, eui, true, func(d *store.Device) error {
		d.AppSKey = slices.Clone(key)
		return nil
	})
	return err
}

// ClearLogs empties a device's log.
func (p *Pipeline) ClearLogs(ctx context.Context, eui lora.EUI64) error {
	_, err := p.update(ctx, eui, false, func(d *store.Device) error {
		d.Logs = nil
		return nil
	})
	return err
}

// SetPorts changes a device's ports (creating the device if needed). Zero
// fields keep their current value; resetStream restores "stream on the DM
// port". An explicit stream port closes an open stream session.
func (p *Pipeline) SetPorts(ctx context.Context, eui lora.EUI64, set store.Ports, resetStream bool) (store.Ports, error) {
	def, err := p.DefaultPorts(ctx)
	if err != nil {
		return store.Ports{}, err
	}
	var out store.Ports
	_, err = p.update(ctx, eui, true, func(d *store.Device) error {
		cur := def
		if d.Ports != nil {
			cur = *d.Ports
		}
		next := mergePorts(cur, set, resetStream)
		if err := next.Validate(); err != nil {
			return &FieldError{Field: "fports", Reason: err.Error()}
		}
		if next.Stream != cur.Stream {
			delete(d.Sessions, SessionStream)
		}
		d.Ports, out = &next, next
		return nil
	})
	return out, err
}

func mergePorts(cur, set store.Ports, resetStream bool) store.Ports {
	pick := func(c, s uint8) uint8 {
		if s != 0 {
			return s
		}
		return c
	}
	next := store.Ports{DM: pick(cur.DM, set.DM), GNSS: pick(cur.GNSS, set.GNSS), GNSSNG: pick(cur.GNSSNG, set.GNSSNG),
		WiFi: pick(cur.WiFi, set.WiFi), Stream: pick(cur.Stream, set.Stream)}
	if resetStream {
		next.Stream = 0
	}
	return next
}

// DefaultPorts returns the service default ports.
func (p *Pipeline) DefaultPorts(ctx context.Context) (store.Ports, error) {
	if d := p.defaultPorts.Load(); d != nil {
		return *d, nil
	}
	d, err := p.settings.DefaultPorts(ctx)
	if err != nil {
		return store.Ports{}, fmt.Errorf("load default ports: %w", err)
	}
	p.defaultPorts.Store(&d)
	return d, nil
}

// SetDefaultPorts changes the service default ports (zero fields keep
// their value) and returns the result.
func (p *Pipeline) SetDefaultPorts(ctx context.Context, set store.Ports, resetStream bool) (store.Ports, error) {
	cur, err := p.DefaultPorts(ctx)
	if err != nil {
		return store.Ports{}, err
	}
	next := mergePorts(cur, set, resetStream)
	if err := next.Validate(); err != nil {
		return store.Ports{}, &FieldError{Field: "fports", Reason: err.Error()}
	}
	if err := p.settings.SetDefaultPorts(ctx, next); err != nil {
		return store.Ports{}, err
	}
	p.defaultPorts.Store(&next)
	return next, nil
}

// IsNotFound reports whether err means an unknown device.
func IsNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
