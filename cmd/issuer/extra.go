package main

import "github.com/issuer-dev/issuer/ops"

// extraCommands lists the commands of packages beyond the queue: the
// simulator, stock lifecycle, plugin signing, issuing, reports and the daemon.
func extraCommands() []*command {
	return []*command{
		cmdSim(), cmdSimKeys(),
		cmdStockCreate(), cmdStockAction(ops.StockStart), cmdStockAction(ops.StockPause), cmdStockAction(ops.StockRestart), cmdStockShow(), cmdStockList(),
		cmdStockAction(ops.StockStop), cmdStockScope("merchants"), cmdStockScope("items"), cmdCoupons(), cmdCallbackShow(), cmdCallbackSet(),
		cmdPluginSign(),
		cmdReconcile(), cmdReportBatch(), cmdReportReconcile(), cmdReportDigest(),
	}
}
