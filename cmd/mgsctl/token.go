package main

import (
	"context"
	"fmt"
	"strings"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

func runToken(ctx context.Context, c *cli, args []string) error {
	return c.dispatch(ctx, "token", "Add, list and remove API tokens (needs an admin token)", []subcommand{
		{"add", "--name NAME --cap CAP[,CAP...]", "create a token and print its secret (shown only once)", tokenAdd},
		{"list", "", "list the tokens (ids, names and capabilities; never secrets)", tokenList},
		{"remove", "TOKEN|ID", "delete a token, named by its secret or its id", tokenRemove},
	}, args)
}

// tokens dials the server and returns its TokenService.
func (c *cli) tokens() (mgsv1.TokenServiceClient, error) {
	if _, err := c.client(); err != nil {
		return nil, err
	}
	return mgsv1.NewTokenServiceClient(c.conn), nil
}

func tokenAdd(ctx context.Context, c *cli, f *flags) error {
	name := f.String("name", "", "token `name` (e.g. the integration using it)")
	var caps listFlag
	f.Var(&caps, "cap", "`capability`: read, uplink, requests, devices or admin; repeat or separate with commas")
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return f.fail("unexpected argument %q", pos[0])
	}
	if strings.TrimSpace(*name) == "" {
		return f.fail("--name is required")
	}
	if len(caps) == 0 {
		return f.fail("--cap is required (read, uplink, requests, devices, admin)")
	}
	api, err := c.tokens()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.AddToken(cctx, &mgsv1.AddTokenRequest{Name: *name, Capabilities: caps})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	t := resp.Token
	keyValues(c.stdout, [][2]string{{"id", t.Id}, {"name", t.Name}, {"capabilities", strings.Join(t.Capabilities, ",")},
		{"token", t.Token}})
	fmt.Fprintln(c.stderr, "mgsctl: store the token now: the server keeps only its hash and cannot show it again")
	return nil
}

func tokenList(ctx context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return f.fail("unexpected argument %q", pos[0])
	}
	api, err := c.tokens()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.ListTokens(cctx, &mgsv1.ListTokensRequest{})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	rows := make([][]string, 0, len(resp.Tokens))
	for _, t := range resp.Tokens {
		kind := "stored"
		if t.Static {
			kind = "static"
		}
		rows = append(rows, []string{t.Id, t.Name, strings.Join(t.Capabilities, ","), kind, fmtTime(t.Created)})
	}
	table(c.stdout, []string{"ID", "NAME", "CAPABILITIES", "KIND", "CREATED"}, rows)
	return nil
}

func tokenRemove(ctx context.Context, c *cli, f *flags) error {
	pos, err := f.parse()
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.fail("give exactly one token or token id")
	}
	api, err := c.tokens()
	if err != nil {
		return err
	}
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := api.RemoveToken(cctx, &mgsv1.RemoveTokenRequest{Token: pos[0]})
	if err != nil {
		return err
	}
	if c.jsonOut() {
		return c.printJSON(resp)
	}
	fmt.Fprintf(c.stdout, "removed token %s (%s)\n", resp.Token.Id, resp.Token.Name)
	return nil
}
