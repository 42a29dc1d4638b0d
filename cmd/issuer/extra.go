package main

// extraCommands lists the commands of packages beyond the queue: the
// simulator, stock lifecycle, plugin signing, issuing, reports and the daemon.
func extraCommands() []*command {
	return []*command{
		cmdSim(), cmdSimKeys(),
		cmdStockCreate(), cmdStockAction("start"), cmdStockAction("pause"), cmdStockAction("restart"), cmdStockShow(), cmdStockList(),
		cmdStockStop(), cmdStockScope("merchants"), cmdStockScope("items"), cmdCoupons(), cmdCallbackShow(), cmdCallbackSet(),
		cmdPluginSign(),
		cmdReconcile(), cmdReportBatch(), cmdReportReconcile(),
	}
}
