package fuse_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ledgerd/ledgerd/fuse"
)

// A backfill walks an account's transactions one page at a time and
// commits each page with the cursor that fetched it.
func ExampleClient_TransactionPages() {
	c, err := fuse.New(fuse.Config{
		BaseURL:      os.Getenv("FUSE_BASE_URL"),
		AuthURL:      os.Getenv("FUSE_AUTH_URL"),
		ClientID:     os.Getenv("FUSE_CLIENT_ID"),
		ClientSecret: os.Getenv("FUSE_CLIENT_SECRET"),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for page, err := range c.TransactionPages(ctx, "6f1c…", fuse.ListTransactionsParams{Limit: fuse.MaxPageLimit}) {
		if err != nil {
			log.Fatal(err) // ErrRepeatedCursor, ErrTooManyPages, or the API's error
		}
		fmt.Println(page.Cursor, len(page.Data), page.Pages.Next != nil)
	}
}

// Certify sends one payment three times under one Idempotency-Key; Fuse
// runs it once and answers the same each time.
func ExampleWithIdempotencyKey() {
	var c *fuse.Client // from fuse.New
	ctx := fuse.WithIdempotencyKey(context.Background(), fuse.NewIdempotencyKey())
	req := fuse.CreatePaymentRequest{Amount: 12_345, Purpose: fuse.PurposeGoodsBought, ExternalReference: "INV-1042",
		Beneficiary: fuse.Beneficiary{Type: fuse.BeneficiaryBusiness, AccountHolderName: "Fulan Trading LLC",
			AccountIdentifier: fuse.Identifier{IBAN: "AE070331234567890123456"},
			Address:           fuse.Address{CountryCode: "AE", Line1: "Office 4, Deira"}}}
	for range 3 {
		tx, err := c.CreatePayment(ctx, "6f1c…", req)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(tx.ID)
	}
}
