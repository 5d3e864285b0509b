package org.lightavseg.core;

import org.json.JSONException;
import org.json.JSONObject;

/**
 * What the app asked LiteRT for and what LiteRT did with it, counted from the interpreter's execution plan
 * (never from a delegate's say-so: NNAPI returns OK while taking no operator, e.g. below API 27).
 *
 * nodesTotal is the plan length without any delegate (the model's operators); planNodes is the plan length of
 * the interpreter that runs (operators left to the CPU plus one node per delegated partition). From those two
 * alone the delegated count is known exactly only for one partition, so nodesDelegated() is a lower bound.
 */
public final class DelegateOutcome {
    public static final int UNKNOWN = -1;

    /** "cpu", "nnapi" or "gpu": the app's --es delegate value. */
    public final String requested;
    /** What runs the model: "gpu", "nnapi", "xnnpack" or "cpu" (LiteRT's built-in kernels). */
    public final String applied;
    public final int nodesTotal;
    public final int planNodes;
    /** The requested accelerator runs nothing: the model runs on the CPU path instead. */
    public final boolean fallback;
    /** Why it fell back, or what could not be verified; null when there is nothing to say. */
    public final String reason;

    public DelegateOutcome(String requested, String applied, int nodesTotal, int planNodes, boolean fallback, String reason) {
        this.requested = requested;
        this.applied = applied;
        this.nodesTotal = nodesTotal;
        this.planNodes = planNodes;
        this.fallback = fallback;
        this.reason = reason;
    }

    private boolean counted() {
        return nodesTotal >= 0 && planNodes >= 0;
    }

    /** Operators the applied delegate took (at least; exact for one partition); 0 on built-in kernels; -1 unknown. */
    public int nodesDelegated() {
        if ("cpu".equals(applied)) {
            return 0;
        }
        if (!counted()) {
            return UNKNOWN;
        }
        return planNodes >= nodesTotal ? 0 : nodesTotal - planNodes + 1;
    }

    /** The delegate took part of the model: up to planNodes - 1 operators run on the CPU between its partitions. */
    public boolean partial() {
        return !"cpu".equals(applied) && counted() && planNodes > 1 && planNodes < nodesTotal;
    }

    /** One line for the screen and for runtime.delegate. */
    public String label() {
        StringBuilder s = new StringBuilder();
        if ("xnnpack".equals(applied)) {
            s.append("cpu (xnnpack)");
        } else if ("cpu".equals(applied)) {
            s.append("cpu (built-in kernels)");
        } else {
            s.append(applied);
        }
        if (partial()) {
            s.append(", partial: >= ").append(nodesDelegated()).append(" of ").append(nodesTotal)
                    .append(" ops delegated, up to ").append(planNodes - 1).append(" on the CPU");
        } else if (counted() && !"cpu".equals(applied)) {
            s.append(", ").append(nodesDelegated()).append("/").append(nodesTotal).append(" ops");
        }
        if (fallback) {
            s.append("; ").append(requested).append(" not used: ").append(reason);
        } else if (reason != null) {
            s.append("; ").append(reason);
        }
        return s.toString();
    }

    /** runtime.delegate_outcome in the bench report (schema_version 2); unknown counts are null. */
    public JSONObject toJson() throws JSONException {
        JSONObject o = new JSONObject();
        o.put("requested", requested);
        o.put("applied", applied);
        o.put("nodes_total", nodesTotal >= 0 ? (Object) nodesTotal : JSONObject.NULL);
        o.put("plan_nodes", planNodes >= 0 ? (Object) planNodes : JSONObject.NULL);
        int d = nodesDelegated();
        o.put("nodes_delegated_min", d >= 0 ? (Object) d : JSONObject.NULL);
        o.put("partial", partial());
        o.put("fallback", fallback);
        o.put("reason", reason == null ? JSONObject.NULL : reason);
        return o;
    }
}
