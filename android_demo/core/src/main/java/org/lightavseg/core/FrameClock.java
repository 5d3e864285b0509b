package org.lightavseg.core;

/**
 * Times one live frame from the moment the camera image is acquired (before YUV->RGB and rotation) to the mask:
 * frameMs() is everything the user waits for, modelMs() only the engine.
 */
public final class FrameClock {
    private final long acquired;
    private long modelStart = -1;
    private long modelEnd = -1;

    public FrameClock(long acquiredNanos) {
        this.acquired = acquiredNanos;
    }

    public void modelStart(long nanos) {
        modelStart = nanos;
    }

    public void modelEnd(long nanos) {
        modelEnd = nanos;
    }

    public double modelMs() {
        return (modelEnd - modelStart) / 1e6;
    }

    /** Acquire -> mask: conversion, rotation, preprocessing, the model and reading its output. */
    public double frameMs(long doneNanos) {
        return (doneNanos - acquired) / 1e6;
    }
}
