package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/outbox"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

// Status maps an error to a gRPC status. It is the only place where OpenMGS
// assigns gRPC codes; unexpected errors become Internal with a generic
// message (the detail is logged by the caller).
func Status(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *uplink.FieldError
	switch {
	case errors.As(err, &fe):
		return status.Error(codes.InvalidArgument, fe.Error())
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, uplink.ErrLimit):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, store.ErrConflict):
		return status.Error(codes.Aborted, "too many concurrent updates of the same device; retry")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, store.ErrClosed):
		return status.Error(codes.Unavailable, "the server is shutting down")
	// Fleet and outbox (DownstreamService, FleetService).
	case errors.Is(err, fleet.ErrUnknownCollection), errors.Is(err, fleet.ErrUnknownDevice),
		errors.Is(err, fleet.ErrUnknownEndpoint), errors.Is(err, outbox.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, fleet.ErrInvalid), errors.Is(err, outbox.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, outbox.ErrQueueFull):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, fleet.ErrExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, outbox.ErrNotPending), errors.Is(err, fleet.ErrDefaultCollection):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Internal, "internal error")
}

// isInternal reports whether an error maps to Internal (and should be
// logged with its detail).
func isInternal(err error) bool {
	return status.Code(Status(err)) == codes.Internal
}

// errorText is the per-item error string of batch responses.
func errorText(err error) string {
	return status.Convert(Status(err)).Message()
}
