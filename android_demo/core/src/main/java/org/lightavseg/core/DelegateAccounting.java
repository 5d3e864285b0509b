package org.lightavseg.core;

/**
 * Picks what runs the model and accounts for it from what the interpreter reports. LiteRtEngine implements
 * Backend with LiteRT; tests drive it with a fake, so the decisions are tested without a phone.
 */
public final class DelegateAccounting {
    /** NNAPI's delegate takes no operator below Android 8.1 (it returns OK and leaves everything to the CPU). */
    public static final int NNAPI_MIN_SDK = 27;

    /** What the engine can ask the inference library. */
    public interface Backend {
        int sdkInt();

        /** Whether the GPU delegate supports this device; throws when the check itself fails natively. */
        boolean gpuSupported() throws Exception;

        /** Execution-plan length with no delegate and XNNPACK off: the model's operator count; -1 if not reported. */
        int operatorCount() throws Exception;

        /**
         * Builds the interpreter the engine will run, with accelerator "gpu", "nnapi" or null (CPU) and XNNPACK on or
         * off for what the accelerator leaves; returns its execution-plan length (-1 if not reported). Throws when
         * the delegate or the model is refused; the caller then calls discard().
         */
        int build(String accelerator, boolean xnnpack) throws Exception;

        /** Releases the interpreter and delegate built last. */
        void discard();
    }

    private DelegateAccounting() {
    }

    /** Builds the engine's interpreter for `requested` ("cpu", "nnapi", "gpu") and says what it really runs on. */
    public static DelegateOutcome choose(String requested, Backend b) throws Engine.EngineException {
        if (!"cpu".equals(requested) && !"nnapi".equals(requested) && !"gpu".equals(requested)) {
            throw new Engine.EngineException("unknown delegate '" + requested + "'; choose cpu, nnapi or gpu");
        }
        int total;
        try {
            total = b.operatorCount();
        } catch (Exception e) {
            throw new Engine.EngineException("LiteRT cannot load the model: " + message(e), e);
        }
        String reason = null;
        if (!"cpu".equals(requested)) {
            reason = precheck(requested, b);
            if (reason == null) {
                DelegateOutcome accelerated = tryAccelerator(requested, total, b);
                if (accelerated.fallback) {
                    reason = accelerated.reason;
                } else {
                    return accelerated;
                }
            }
        }
        int plan;
        try {
            plan = b.build(null, true);
        } catch (Exception e) {
            b.discard();
            throw new Engine.EngineException("LiteRT cannot load the model: " + message(e), e);
        }
        // XNNPACK that shrank nothing left the model on the built-in kernels.
        String applied = total >= 0 && plan >= total ? "cpu" : "xnnpack";
        return new DelegateOutcome(requested, applied, total, plan, reason != null, reason);
    }

    private static String precheck(String requested, Backend b) {
        if ("nnapi".equals(requested) && b.sdkInt() < NNAPI_MIN_SDK) {
            return "NNAPI needs Android 8.1 (API " + NNAPI_MIN_SDK + "), this device runs API " + b.sdkInt();
        }
        if ("gpu".equals(requested)) {
            try {
                if (!b.gpuSupported()) {
                    return "the GPU delegate does not support this device's GPU";
                }
            } catch (Exception e) {
                return "the GPU compatibility check failed: " + message(e);
            }
        }
        return null;
    }

    /** The accelerator alone (XNNPACK off) so the plan length shows what it took; a fallback outcome if nothing. */
    private static DelegateOutcome tryAccelerator(String acc, int total, Backend b) {
        int plan;
        try {
            plan = b.build(acc, false);
        } catch (Exception e) {
            b.discard();
            return new DelegateOutcome(acc, "cpu", total, UNKNOWN_PLAN, true, acc + " refused the model: " + message(e));
        }
        if (total >= 0 && plan >= total) {
            b.discard();
            return new DelegateOutcome(acc, "cpu", total, plan, true, acc + " accepted the model but took none of its "
                    + total + " operators" + ("nnapi".equals(acc) ? " (no NNAPI accelerator besides the reference CPU)" : ""));
        }
        if (total < 0 || plan < 0) {
            return new DelegateOutcome(acc, acc, total, plan, false, "LiteRT did not report its execution plan: delegation not verified");
        }
        if (plan > 1) {
            // Partial: what the accelerator leaves runs faster on XNNPACK than on the built-in kernels.
            b.discard();
            try {
                b.build(acc, true);
            } catch (Exception e) {
                b.discard();
                try {
                    b.build(acc, false);
                } catch (Exception e2) {
                    b.discard();
                    return new DelegateOutcome(acc, "cpu", total, plan, true, acc + " refused the model: " + message(e2));
                }
            }
        }
        return new DelegateOutcome(acc, acc, total, plan, false, null);
    }

    private static final int UNKNOWN_PLAN = DelegateOutcome.UNKNOWN;

    private static String message(Exception e) {
        String m = e.getMessage();
        String line = m == null || m.trim().isEmpty() ? e.getClass().getSimpleName() : m.trim();
        int nl = line.indexOf('\n');
        return nl < 0 ? line : line.substring(0, nl);
    }
}
