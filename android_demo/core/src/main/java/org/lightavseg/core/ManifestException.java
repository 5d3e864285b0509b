package org.lightavseg.core;

/** A manifest or artifact the app cannot use; the message names the bad value and what to do. */
public class ManifestException extends Exception {
    public ManifestException(String message) {
        super(message);
    }
}
