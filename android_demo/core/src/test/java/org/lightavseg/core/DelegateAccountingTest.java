package org.lightavseg.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.ArrayList;
import java.util.List;

import org.json.JSONObject;
import org.junit.Test;

public class DelegateAccountingTest {
    /** Plays LiteRT: plan lengths per configuration, refusals, and a log of what was built and released. */
    private static final class FakeLiteRt implements DelegateAccounting.Backend {
        int sdk = 34;
        boolean gpuOk = true;
        RuntimeException gpuCheckFails;
        int operators = 40;
        int gpuPlan = 1;
        int nnapiPlan = 1;
        int xnnpackPlan = 3;
        RuntimeException refuse;  // thrown when the accelerator is built
        final List<String> log = new ArrayList<String>();

        @Override
        public int sdkInt() {
            return sdk;
        }

        @Override
        public boolean gpuSupported() {
            if (gpuCheckFails != null) {
                throw gpuCheckFails;
            }
            return gpuOk;
        }

        @Override
        public int operatorCount() {
            return operators;
        }

        @Override
        public int build(String accelerator, boolean xnnpack) {
            log.add("build " + accelerator + (xnnpack ? "+xnnpack" : ""));
            if (accelerator != null && refuse != null) {
                throw refuse;
            }
            if (accelerator == null) {
                return xnnpack ? xnnpackPlan : operators;
            }
            return "gpu".equals(accelerator) ? gpuPlan : nnapiPlan;
        }

        @Override
        public void discard() {
            log.add("discard");
        }
    }

    @Test
    public void nnapiBelowApi27IsAFallbackNeverAnNnapiLabel() throws Exception {
        FakeLiteRt lib = new FakeLiteRt();
        lib.sdk = 26;
        DelegateOutcome o = DelegateAccounting.choose("nnapi", lib);
        assertTrue(o.fallback);
        assertEquals("xnnpack", o.applied);
        assertTrue(o.reason, o.reason.contains("API 27") && o.reason.contains("API 26"));
        assertEquals("[build null+xnnpack]", lib.log.toString());  // NNAPI never tried
        assertTrue(o.label().startsWith("cpu (xnnpack)"));
    }

    @Test
    public void nnapiThatTakesNoOperatorIsAFallback() throws Exception {
        FakeLiteRt lib = new FakeLiteRt();
        lib.nnapiPlan = 40;  // OK status, nothing delegated (only the reference CPU device)
        DelegateOutcome o = DelegateAccounting.choose("nnapi", lib);
        assertTrue(o.fallback);
        assertEquals("xnnpack", o.applied);
        assertTrue(o.reason, o.reason.contains("took none of its 40 operators"));
        assertEquals("[build nnapi, discard, build null+xnnpack]", lib.log.toString());
        assertFalse(o.label().startsWith("nnapi"));
    }

    @Test
    public void gpuNativeInitFailureFallsBackToCpu() throws Exception {
        FakeLiteRt lib = new FakeLiteRt();
        lib.refuse = new IllegalArgumentException("Internal error: Failed to apply delegate: OpenCL library not loaded\nmore");
        DelegateOutcome o = DelegateAccounting.choose("gpu", lib);
        assertTrue(o.fallback);
        assertEquals("gpu refused the model: Internal error: Failed to apply delegate: OpenCL library not loaded", o.reason);
        assertEquals("[build gpu, discard, build null+xnnpack]", lib.log.toString());
    }

    @Test
    public void gpuUnsupportedOrCheckFailingIsAFallback() throws Exception {
        FakeLiteRt lib = new FakeLiteRt();
        lib.gpuOk = false;
        assertTrue(DelegateAccounting.choose("gpu", lib).fallback);
        lib.gpuCheckFails = new IllegalStateException("no jni");
        DelegateOutcome o = DelegateAccounting.choose("gpu", lib);
        assertTrue(o.fallback);
        assertTrue(o.reason, o.reason.contains("compatibility check failed"));
    }

    @Test
    public void wholeModelOnTheGpu() throws Exception {
        FakeLiteRt lib = new FakeLiteRt();
        DelegateOutcome o = DelegateAccounting.choose("gpu", lib);
        assertFalse(o.fallback);
        assertFalse(o.partial());
        assertEquals("gpu", o.applied);
        assertEquals(40, o.nodesDelegated());
        assertEquals("[build gpu]", lib.log.toString());
        assertEquals("gpu, 40/40 ops", o.label());
    }

    @Test
    public void partialDelegationIsReportedAndTheRestRunsOnXnnpack() throws Exception {
        FakeLiteRt lib = new FakeLiteRt();
        lib.gpuPlan = 6;  // e.g. 2 GPU partitions + 4 CPU ops, or 1 partition + 5 CPU ops
        DelegateOutcome o = DelegateAccounting.choose("gpu", lib);
        assertFalse(o.fallback);
        assertTrue(o.partial());
        assertEquals(35, o.nodesDelegated());  // lower bound: 40 - 6 + 1
        assertEquals("[build gpu, discard, build gpu+xnnpack]", lib.log.toString());
        assertTrue(o.label(), o.label().contains("partial: >= 35 of 40 ops delegated, up to 5 on the CPU"));
        JSONObject j = o.toJson();
        assertEquals(true, j.getBoolean("partial"));
        assertEquals(35, j.getInt("nodes_delegated_min"));
        assertEquals(6, j.getInt("plan_nodes"));
        assertEquals(40, j.getInt("nodes_total"));
        assertEquals("gpu", j.getString("requested"));
        assertTrue(j.isNull("reason"));
    }

    @Test
    public void cpuIsXnnpackOrTheBuiltInKernels() throws Exception {
        FakeLiteRt lib = new FakeLiteRt();
        DelegateOutcome o = DelegateAccounting.choose("cpu", lib);
        assertEquals("xnnpack", o.applied);
        assertFalse(o.fallback);
        lib.xnnpackPlan = 40;
        o = DelegateAccounting.choose("cpu", lib);
        assertEquals("cpu", o.applied);
        assertEquals(0, o.nodesDelegated());
        assertEquals("cpu (built-in kernels)", o.label());
    }

    @Test
    public void unreportedPlanIsSaidNotGuessed() throws Exception {
        FakeLiteRt lib = new FakeLiteRt();
        lib.operators = -1;
        lib.gpuPlan = -1;
        DelegateOutcome o = DelegateAccounting.choose("gpu", lib);
        assertEquals("gpu", o.applied);
        assertEquals(DelegateOutcome.UNKNOWN, o.nodesDelegated());
        assertTrue(o.reason.contains("not verified"));
        assertTrue(o.toJson().isNull("nodes_delegated_min"));
    }

    @Test
    public void unknownDelegateAndUnloadableModelAreEngineErrors() {
        try {
            DelegateAccounting.choose("npu", new FakeLiteRt());
            fail();
        } catch (Engine.EngineException e) {
            assertTrue(e.getMessage().contains("choose cpu, nnapi or gpu"));
        }
    }
}
