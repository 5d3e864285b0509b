package org.lightavseg.demo;

import java.io.File;
import java.util.Locale;
import java.util.Map;

import android.Manifest.permission;
import android.app.Activity;
import android.content.Intent;
import android.content.pm.PackageManager;
import android.graphics.Color;
import android.graphics.Matrix;
import android.graphics.SurfaceTexture;
import android.os.Bundle;
import android.os.Handler;
import android.os.HandlerThread;
import android.os.SystemClock;
import android.util.Log;
import android.util.Size;
import android.view.Gravity;
import android.view.TextureView;
import android.view.View;
import android.view.ViewGroup;
import android.view.WindowManager;
import android.widget.FrameLayout;
import android.widget.RadioButton;
import android.widget.RadioGroup;

import org.lightavseg.core.AudioFeed;
import org.lightavseg.core.BenchReport;
import org.lightavseg.core.BenchSession;
import org.lightavseg.core.Engine;
import org.lightavseg.core.FrameClock;
import org.lightavseg.core.LatencyWindow;
import org.lightavseg.core.ManifestException;
import org.lightavseg.core.Masks;
import org.lightavseg.core.MicLoop;
import org.lightavseg.core.PreviewGeometry;
import org.lightavseg.core.Segmenter;
import org.lightavseg.core.TensorData;

/**
 * Live mode: camera + microphone -> mask overlay with latency readout and delegate toggles.
 * Bench mode (am start -S -n org.lightavseg.demo/.MainActivity --es mode bench): held-out clips -> JSON report,
 * then the activity finishes; a start that reaches a running activity arrives in onNewIntent.
 */
public final class MainActivity extends Activity implements CameraController.FrameSink {
    static final String TAG = "LightAVSeg";
    private static final int PERMISSION_REQUEST = 1;
    private static final String[] DELEGATES = {"cpu", "nnapi", "gpu"};
    private static final String[] DELEGATE_LABELS = {"CPU (XNNPACK)", "NNAPI", "GPU"};

    private FrameLayout root;
    private OverlayView overlay;
    private TextureView preview;
    private HandlerThread inferenceThread;
    private Handler inference;
    private HandlerThread cameraThread;
    private CameraController camera;
    // Read by the camera thread, attached/detached by the UI thread: one volatile reference inside.
    private final AudioFeed audio = new AudioFeed();
    private final BenchSession bench = new BenchSession();

    // Owned by the inference thread.
    private volatile Segmenter segmenter;
    private ModelStore model;
    private volatile Engine engine;
    private final LatencyWindow modelLatency = new LatencyWindow(30);
    private final LatencyWindow frameLatency = new LatencyWindow(30);
    private volatile boolean busy;
    private volatile String problem;
    private volatile String audioNote = "";
    private volatile String delegateRequested = "cpu";
    private boolean permissionsAsked;
    private boolean resumed;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        root = new FrameLayout(this);
        root.setBackgroundColor(Color.BLACK);
        preview = new TextureView(this);
        overlay = new OverlayView(this);
        // The preview gets the frame's aspect-fit box once the camera's size is known (layoutPreview).
        root.addView(preview, new FrameLayout.LayoutParams(0, 0, Gravity.TOP | Gravity.LEFT));
        root.addView(overlay, new FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.MATCH_PARENT));
        setContentView(root);

        inferenceThread = new HandlerThread("inference");
        inferenceThread.start();
        inference = new Handler(inferenceThread.getLooper());

        if (isBench(getIntent())) {
            startBench(getIntent());
            return;
        }
        root.addView(delegateToggles(), new FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT,
                ViewGroup.LayoutParams.WRAP_CONTENT, Gravity.BOTTOM));
        overlay.setLines("Loading the model...");
        inference.post(new Runnable() {
            @Override
            public void run() {
                loadModel();
                createEngine();
                showStatus();
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        if (resumed) {
                            checkPermissionsAndStart();
                        }
                    }
                });
            }
        });
    }

    private RadioGroup delegateToggles() {
        RadioGroup g = new RadioGroup(this);
        g.setOrientation(RadioGroup.HORIZONTAL);
        g.setBackgroundColor(Color.argb(150, 0, 0, 0));
        for (int i = 0; i < DELEGATES.length; i++) {
            RadioButton b = new RadioButton(this);
            b.setId(i + 1);
            b.setText(DELEGATE_LABELS[i]);
            b.setTextColor(Color.WHITE);
            g.addView(b);
        }
        g.check(1);
        g.setOnCheckedChangeListener(new RadioGroup.OnCheckedChangeListener() {
            @Override
            public void onCheckedChanged(RadioGroup group, int id) {
                delegateRequested = DELEGATES[id - 1];
                inference.post(new Runnable() {
                    @Override
                    public void run() {
                        createEngine();
                        showStatus();
                    }
                });
            }
        });
        return g;
    }

    /** Inference thread: model + manifest from assets; a problem becomes an on-screen message. */
    private void loadModel() {
        try {
            model = ModelStore.load(getAssets());
            segmenter = new Segmenter(model.manifest);
        } catch (ManifestException e) {
            problem = e.getMessage();
        } catch (RuntimeException e) {
            problem = "The model could not be prepared: " + e;
        }
    }

    /** Inference thread: (re)creates the engine for the requested delegate. */
    private void createEngine() {
        if (segmenter == null) {
            return;
        }
        if (engine != null) {
            closeQuietly(engine);
            engine = null;
        }
        try {
            engine = EngineLoader.create(model.artifact, model.manifest, delegateRequested, threads());
            problem = null;
        } catch (Engine.EngineException e) {
            problem = e.getMessage();
        }
    }

    private int threads() {
        return getIntent().getIntExtra("threads", Math.min(4, Runtime.getRuntime().availableProcessors()));
    }

    private void showStatus() {
        if (problem != null) {
            overlay.setMask(null, 0, 0);
            overlay.setLines(problem);
            return;
        }
        if (engine == null) {
            return;
        }
        overlay.setLines(String.format(Locale.ROOT, "model p50 %.1f ms, frame p50 %.1f ms (last %d frames)",
                        modelLatency.p50(), frameLatency.p50(), modelLatency.count()),
                "delegate: " + engine.delegate() + " (asked: " + delegateRequested + "), " + engine.threads() + " threads",
                model.manifest.artifactFile + " " + model.manifest.precision + audioNote + micNote());
    }

    private String micNote() {
        String m = audio.message();
        return m == null ? "" : "\naudio: " + m;
    }

    // ---- live mode: permissions, camera, microphone ----

    @Override
    protected void onResume() {
        super.onResume();
        resumed = true;
        if (!isBench(getIntent())) {
            checkPermissionsAndStart();
        }
    }

    /** UI thread: asks for camera + microphone once, then starts them (once the model is loaded). */
    private void checkPermissionsAndStart() {
        if (segmenter == null) {
            return;
        }
        boolean cam = checkSelfPermission(permission.CAMERA) == PackageManager.PERMISSION_GRANTED;
        boolean rec = checkSelfPermission(permission.RECORD_AUDIO) == PackageManager.PERMISSION_GRANTED;
        if ((!cam || !rec) && !permissionsAsked) {
            permissionsAsked = true;
            requestPermissions(new String[] {permission.CAMERA, permission.RECORD_AUDIO}, PERMISSION_REQUEST);
            return;
        }
        startSources(cam, rec);
    }

    @Override
    public void onRequestPermissionsResult(int code, String[] perms, int[] results) {
        boolean cam = checkSelfPermission(permission.CAMERA) == PackageManager.PERMISSION_GRANTED;
        boolean rec = checkSelfPermission(permission.RECORD_AUDIO) == PackageManager.PERMISSION_GRANTED;
        startSources(cam, rec);
    }

    private void startSources(boolean cam, boolean rec) {
        if (segmenter == null || camera != null) {
            return;  // no usable model (its message stays on screen), or already started
        }
        if (!cam) {
            problem = "Camera permission was denied: live segmentation needs it. Grant it in Settings > Apps > "
                    + "LightAVSeg > Permissions (bench mode works without it).";
            showStatusLater();
            return;
        }
        if (rec) {
            int rate = segmenter.vggish().sampleRate;
            String[] why = new String[1];
            MicLoop m = MicRecorder.start(rate, segmenter.vggish().int16Scale, rate * 2, why);
            audio.attach(m);
            audioNote = m == null ? "\naudio: silence (" + why[0] + ")" : "";
        } else {
            audioNote = "\naudio: silence (microphone permission denied)";
        }
        cameraThread = new HandlerThread("camera");
        cameraThread.start();
        camera = new CameraController(this, new Handler(cameraThread.getLooper()), this);
        String err = camera.configure();
        if (err != null) {
            problem = err;
            showStatusLater();
            return;
        }
        layoutPreview();
        if (preview.isAvailable()) {
            openCamera(preview.getSurfaceTexture());
        } else {
            preview.setSurfaceTextureListener(new TextureView.SurfaceTextureListener() {
                @Override
                public void onSurfaceTextureAvailable(SurfaceTexture st, int w, int h) {
                    openCamera(st);
                }

                @Override
                public void onSurfaceTextureSizeChanged(SurfaceTexture st, int w, int h) {
                    layoutPreview();
                }

                @Override
                public boolean onSurfaceTextureDestroyed(SurfaceTexture st) {
                    return true;
                }

                @Override
                public void onSurfaceTextureUpdated(SurfaceTexture st) {
                }
            });
        }
    }

    private int displayDegrees() {
        return PreviewGeometry.displayDegrees(getWindowManager().getDefaultDisplay().getRotation());
    }

    /**
     * UI thread: the preview and the mask share one box, the upright frame's aspect fitted into the screen (not
     * stretched to it); the TextureView is turned back when the display is rotated against the device's natural
     * orientation (landscape-native tablets held in portrait).
     */
    private void layoutPreview() {
        final CameraController c = camera;
        if (c == null || c.setup() == null) {
            return;
        }
        if (root.getWidth() == 0) {
            root.addOnLayoutChangeListener(new View.OnLayoutChangeListener() {
                @Override
                public void onLayoutChange(View v, int l, int t, int r, int b, int ol, int ot, int or, int ob) {
                    root.removeOnLayoutChangeListener(this);
                    layoutPreview();
                }
            });
            return;
        }
        Size size = c.setup().size;
        int degrees = displayDegrees();
        PreviewGeometry.FrameTransform ft = PreviewGeometry.frameTransform(c.setup().sensorOrientation, degrees, c.setup().front);
        int[] box = PreviewGeometry.fit(root.getWidth(), root.getHeight(), ft.outWidth(size.getWidth(), size.getHeight()),
                ft.outHeight(size.getWidth(), size.getHeight()));
        FrameLayout.LayoutParams lp = new FrameLayout.LayoutParams(box[2], box[3], Gravity.TOP | Gravity.LEFT);
        lp.leftMargin = box[0];
        lp.topMargin = box[1];
        preview.setLayoutParams(lp);
        float[] vt = PreviewGeometry.previewTransform(box[2], box[3], degrees);
        Matrix m = new Matrix();
        m.setScale(vt[0], vt[1], box[2] / 2f, box[3] / 2f);
        m.postRotate(vt[2], box[2] / 2f, box[3] / 2f);
        preview.setTransform(m);
        overlay.setBox(box);
    }

    private void openCamera(SurfaceTexture st) {
        if (camera == null) {
            return;
        }
        String err = camera.open(st, displayDegrees());
        if (err != null) {
            problem = err;
            showStatusLater();
        }
    }

    private void showStatusLater() {
        inference.post(new Runnable() {
            @Override
            public void run() {
                showStatus();
            }
        });
    }

    @Override
    protected void onPause() {
        super.onPause();
        resumed = false;
        if (camera != null) {
            camera.close();
            camera = null;
        }
        if (cameraThread != null) {
            cameraThread.quitSafely();
            cameraThread = null;
        }
        MicLoop m = audio.detach();
        if (m != null) {
            m.stop();
        }
    }

    @Override
    protected void onDestroy() {
        super.onDestroy();
        inference.post(new Runnable() {
            @Override
            public void run() {
                if (engine != null) {
                    closeQuietly(engine);
                    engine = null;
                }
            }
        });
        inferenceThread.quitSafely();
    }

    @Override
    public boolean wantsFrame() {
        return !busy && engine != null && segmenter != null;
    }

    @Override
    public void onFrame(final byte[] rgb, final int w, final int h, long acquiredNanos) {
        busy = true;
        final FrameClock clock = new FrameClock(acquiredNanos);
        final float[] window = audio.window(segmenter.vggish().patchSamples());
        inference.post(new Runnable() {
            @Override
            public void run() {
                try {
                    Map<String, TensorData> in = segmenter.inputs(rgb, w, h, segmenter.audioFeature(window));
                    clock.modelStart(SystemClock.elapsedRealtimeNanos());
                    float[] logits = segmenter.maskLogits(engine.run(in));
                    clock.modelEnd(SystemClock.elapsedRealtimeNanos());
                    int[] hw = segmenter.maskSize();
                    overlay.setMask(Masks.threshold(logits), hw[1], hw[0]);
                    modelLatency.add(clock.modelMs());
                    // From the camera image (before YUV->RGB and rotation) to the mask.
                    frameLatency.add(clock.frameMs(SystemClock.elapsedRealtimeNanos()));
                } catch (Engine.EngineException | RuntimeException e) {
                    problem = "Inference failed: " + e.getMessage();
                    Log.e(TAG, "inference failed", e);
                } finally {
                    showStatus();
                    busy = false;
                }
            }
        });
    }

    @Override
    public void onCameraError(String message) {
        problem = message;
        showStatusLater();
    }

    // ---- bench mode ----

    private static boolean isBench(Intent i) {
        return i != null && "bench".equals(i.getStringExtra("mode"));
    }

    /** A start that reaches this activity while it exists (no -S): a bench start runs, or is refused if one runs. */
    @Override
    protected void onNewIntent(Intent intent) {
        super.onNewIntent(intent);
        if (isBench(intent)) {
            setIntent(intent);
            startBench(intent);
        }
    }

    private void startBench(Intent intent) {
        final String delegate = orDefault(intent.getStringExtra("delegate"), "cpu");
        final int warmup = intent.getIntExtra("warmup", 3);
        final int repeats = intent.getIntExtra("repeats", 1);
        final File out = new File(getExternalFilesDir(null), "bench");
        final BenchRunner runner = new BenchRunner(getAssets(), out, new BenchRunner.Progress() {
            @Override
            public void say(String line) {
                Log.i(TAG, "bench " + line);
                overlay.setLines("Bench mode", line);
            }
        });
        final BenchSession.Host host = new BenchSession.Host() {
            @Override
            public void keepScreenOn(final boolean on) {
                // A phone that sleeps mid-run throttles or pauses it: the flag holds for the run only.
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        if (on) {
                            getWindow().addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON);
                        } else {
                            getWindow().clearFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON);
                        }
                    }
                });
            }

            @Override
            public void markStarted() throws Exception {
                runner.clearPrevious();
                BenchReport.writeStarted(out, "delegate=" + delegate);
            }

            @Override
            public File run() throws Exception {
                loadModel();
                delegateRequested = delegate;
                createEngine();
                if (problem != null || engine == null) {
                    return runner.writeFailure(problem == null ? "no engine" : problem, delegate,
                            model == null ? null : model.manifest);
                }
                return runner.run(segmenter, engine, delegate, warmup, repeats);
            }

            @Override
            public void log(String line) {
                Log.i(TAG, line);
                overlay.setLines("Bench mode", line);
            }

            @Override
            public void finish() {
                // The next `am start` then creates a fresh activity instead of meeting this one.
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        MainActivity.this.finish();
                    }
                });
            }
        };
        if (!bench.claim(host)) {
            return;
        }
        overlay.setLines("Bench mode: running the held-out clips...");
        inference.post(new Runnable() {
            @Override
            public void run() {
                bench.execute(host);
            }
        });
    }

    private static String orDefault(String v, String d) {
        return v == null || v.isEmpty() ? d : v;
    }

    private static void closeQuietly(Engine e) {
        try {
            e.close();
        } catch (java.io.IOException ignored) {
            // Closing a finished interpreter has nothing left to report.
        }
    }
}
